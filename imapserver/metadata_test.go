package imapserver

import (
	"fmt"
	"strings"
	"testing"
)

// METADATA (RFC 5464): server and mailbox entries under /private and
// /shared, set and removed all or none, DEPTH and MAXSIZE, the size and
// count limits, and entries that go with their mailbox.
func TestMetadataScript(t *testing.T) {
	env := newTestEnv(t, nil)
	r := dialRaw(t, env.addr)
	if u, _ := r.cmd("c", "CAPABILITY"); !strings.Contains(u[0], " METADATA") {
		t.Fatalf("METADATA not advertised: %q", u)
	}
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	big := strings.Repeat("x", maxMetadataValue+1)
	runScript(t, r, []exchange{
		{`m1 GETMETADATA "" /private/comment`, []string{`\* METADATA "" \(/private/comment NIL\)`, `m1 OK .*`}},
		{`m2 SETMETADATA "" (/private/comment "My comment")`, []string{`m2 OK .*`}},
		{`m3 GETMETADATA "" /Private/Comment`, []string{`\* METADATA "" \(/private/comment "My comment"\)`, `m3 OK .*`}},
		{`m4 SETMETADATA "" (/shared/comment "mine")`, []string{`m4 NO \[NOPERM\] .*`}},
		{`m5 CREATE Work`, []string{`m5 OK .*`}},
		{`m6 SETMETADATA "Work" (/private/comment {4+}` + "\r\nnote" + ` /shared/vendor/x/a "1" /shared/vendor/x/a/b "2" /shared/vendor/y "3")`, []string{`m6 OK .*`}},
		{`m7 GETMETADATA (DEPTH 1) Work /shared/vendor/x`, []string{`\* METADATA "Work" \(/shared/vendor/x NIL /shared/vendor/x/a "1"\)`, `m7 OK .*`}},
		{`m8 GETMETADATA (DEPTH infinity) Work (/shared/vendor)`, []string{`\* METADATA "Work" \(/shared/vendor NIL /shared/vendor/x/a "1" /shared/vendor/x/a/b "2" /shared/vendor/y "3" /shared/vendor/yubin/private-seen "true"\)`, `m8 OK .*`}},
		// The mailbox's \Seen mode is an entry of its own (private by default).
		{`ps1 SETMETADATA Work (/shared/vendor/yubin/private-seen "maybe")`, []string{`ps1 BAD .*private-seen.*`}},
		{`ps2 SETMETADATA Work (/shared/vendor/yubin/private-seen "false")`, []string{`ps2 OK .*`}},
		{`ps3 GETMETADATA Work /shared/vendor/yubin/private-seen`, []string{`\* METADATA "Work" \(/shared/vendor/yubin/private-seen "false"\)`, `ps3 OK .*`}},
		{`ps4 SETMETADATA Work (/shared/vendor/yubin/private-seen NIL)`, []string{`ps4 OK .*`}},
		{`ps5 GETMETADATA Work /shared/vendor/yubin/private-seen`, []string{`\* METADATA "Work" \(/shared/vendor/yubin/private-seen "true"\)`, `ps5 OK .*`}},
		{`m9 GETMETADATA (MAXSIZE 2) Work (/private/comment /shared/vendor/y)`, []string{`\* METADATA "Work" \(/shared/vendor/y "3"\)`, `m9 OK \[METADATA LONGENTRIES 4\] .*`}},
		// NIL removes; all or none: a bad name refuses the whole command.
		{`m10 SETMETADATA "Work" (/shared/vendor/y NIL /private/comment "changed" /bad "x")`, []string{`m10 BAD .*`}},
		{`m11 SETMETADATA "Work" (/shared/vendor/y NIL)`, []string{`m11 OK .*`}},
		{`m12 GETMETADATA "Work" (/shared/vendor/y /private/comment)`, []string{`\* METADATA "Work" \(/shared/vendor/y NIL /private/comment "note"\)`, `m12 OK .*`}},
		{fmt.Sprintf(`m13 SETMETADATA "Work" (/private/big {%d+}`, len(big)) + "\r\n" + big + `)`, []string{`m13 NO \[METADATA MAXSIZE \d+\] .*`}},
		{`m14 SETMETADATA Nowhere (/private/comment "x")`, []string{`m14 NO \[NONEXISTENT\] .*`}},
		{`m15 GETMETADATA "" /private/*`, []string{`m15 BAD .*`}},
		{`m16 SETMETADATA "" (/private/a//b "x")`, []string{`m16 BAD .*`}},
		{`m17 DELETE Work`, []string{`m17 OK .*`}},
		{`m18 CREATE Work`, []string{`m18 OK .*`}},
		{`m19 GETMETADATA "Work" /private/comment`, []string{`\* METADATA "Work" \(/private/comment NIL\)`, `m19 OK .*`}},
		// A binary value comes as literal8 and goes back as one.
		{"m20 SETMETADATA \"\" (/private/vendor/bin ~{3+}\r\na\x00b)", []string{`m20 OK .*`}},
		{`m21 GETMETADATA "" /private/vendor/bin`, []string{`\* METADATA "" \(/private/vendor/bin ~\{3\}`, "a\x00b\\)", `m21 OK .*`}},
	})
	// TOOMANY: the mailbox's entries are bounded, and the command that
	// would go over adds none.
	var b strings.Builder
	for i := 0; i < maxMetadataEntries-1; i++ {
		fmt.Fprintf(&b, " /private/e%d \"v\"", i)
	}
	runScript(t, r, []exchange{
		{`t1 SETMETADATA "Work" (` + b.String()[1:] + `)`, []string{`t1 OK .*`}},
		{`t2 SETMETADATA "Work" (/private/x "1" /private/y "2")`, []string{`t2 NO \[METADATA TOOMANY\] .*`}},
		{`t3 GETMETADATA "Work" (/private/x)`, []string{`\* METADATA "Work" \(/private/x NIL\)`, `t3 OK .*`}},
		{`t4 SETMETADATA "Work" (/private/x "1")`, []string{`t4 OK .*`}},
	})
}
