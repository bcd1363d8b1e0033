package imapserver

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestACLAnyoneStaysInDomain: "anyone" on a mailbox means the users of
// its owner's domain. A user of another domain on the same server (another
// customer of a hosting provider) neither finds the mailbox with LIST nor
// opens it with SELECT, EXAMINE, STATUS or MYRIGHTS; a user of the owner's
// domain does, and a grant that names the other domain's user by address
// still reaches them.
func TestACLAnyoneStaysInDomain(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx := context.Background()
	const carol = "carol@example.test"
	const mallory = "mallory@other.test"
	env.addUser(t, carol)
	if _, err := env.store.CreateDomain(ctx, "other.test"); err != nil {
		t.Fatal(err)
	}
	env.addUser(t, mallory)
	if _, err := env.store.CreateMailbox(ctx, env.user.ID, "Projects", ""); err != nil {
		t.Fatal(err)
	}
	env.deliverTo(t, "Projects", testMessage("plan", "dave@example.org", "the plan"))

	alice := env.loginAs(t, testAddr, nil)
	if err := alice.SetACL("Projects", imap.RightsIdentifier("anyone"), imap.RightModificationReplace, imap.RightSet("lr")).Wait(); err != nil {
		t.Fatalf("SETACL anyone: %v", err)
	}

	// carol, of alice's domain, finds and reads it.
	c := env.loginAs(t, carol, nil)
	if _, ok := listNames(t, c, "*")[sharedBox]; !ok {
		t.Fatalf("LIST of a user of the owner's domain lacks %s", sharedBox)
	}
	if sel, err := c.Select(sharedBox, nil).Wait(); err != nil || sel.NumMessages != 1 {
		t.Fatalf("SELECT by a user of the owner's domain: %+v %v", sel, err)
	}

	// mallory, of another domain, gets nothing.
	m := env.loginAs(t, mallory, nil)
	for name := range listNames(t, m, "*") {
		if strings.HasPrefix(name, "Other Users") {
			t.Errorf("LIST * of a user of another domain shows %q", name)
		}
	}
	if names := listNames(t, m, "Other Users/*"); len(names) != 0 {
		t.Errorf(`LIST "Other Users/*" of a user of another domain: %v`, names)
	}
	raw := env.rawLogin(t, mallory)
	for _, cmd := range []string{
		`SELECT "` + sharedBox + `"`,
		`EXAMINE "` + sharedBox + `"`,
		`STATUS "` + sharedBox + `" (MESSAGES)`,
		`MYRIGHTS "` + sharedBox + `"`,
		`GETACL "` + sharedBox + `"`,
	} {
		untagged, tagged := raw.cmd("m", cmd)
		if !strings.HasPrefix(tagged, "m NO") {
			t.Errorf("%s by a user of another domain: %q %q, want NO", cmd, untagged, tagged)
		}
		if strings.Contains(strings.Join(untagged, "\n"), "EXISTS") || strings.Contains(strings.Join(untagged, "\n"), "MESSAGES") {
			t.Errorf("%s by a user of another domain told %q", cmd, untagged)
		}
	}

	// Named by address, mallory is reached: the owner chose them.
	if err := alice.SetACL("Projects", imap.RightsIdentifier(mallory), imap.RightModificationReplace, imap.RightSet("lr")).Wait(); err != nil {
		t.Fatalf("SETACL %s: %v", mallory, err)
	}
	if sel, err := m.Select(sharedBox, nil).Wait(); err != nil || sel.NumMessages != 1 {
		t.Fatalf("SELECT after a grant naming the user: %+v %v", sel, err)
	}
}
