package imapserver

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"
)

// TestFetchOfMessageExpungedElsewhere: RFC 2180 §4.1.1 over real sockets.
// Session A expunges a message that session B still shows; B, not yet
// told (a FETCH may not carry EXPUNGE), fetches BODY[] of it and gets the
// bytes. Once B has been told (NOOP → EXPUNGE) and the store's release
// has run past the grace time, the body is gone: nothing leaks.
func TestFetchOfMessageExpungedElsewhere(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t, nil)
	msg := testMessage("going", "bob@example.org", "the body B still asks for")
	env.deliver(t, msg)
	env.deliver(t, testMessage("staying", "bob@example.org", "x"))
	metas, err := env.store.ListMessages(ctx, env.inboxID, nil)
	if err != nil || len(metas) != 2 {
		t.Fatalf("INBOX: %v %v", metas, err)
	}
	key := metas[0].BlobKey

	a, b := twoSessions(t, env)
	for _, r := range []*rawConn{a, b} {
		r.cmd("s", "SELECT INBOX")
	}
	runScript(t, a, []exchange{
		{`a1 STORE 1 +FLAGS.SILENT (\Deleted)`, []string{`a1 OK .*`}},
		{"a2 EXPUNGE", []string{`\* 1 EXPUNGE`, `a2 OK .*`}},
	})

	untagged, tagged := b.cmd("b1", "FETCH 1 (UID BODY.PEEK[])")
	if !strings.HasPrefix(tagged, "b1 OK") {
		t.Fatalf("FETCH of the message expunged elsewhere: %q (untagged %q)", tagged, untagged)
	}
	got := strings.Join(untagged, "\r\n")
	if !strings.Contains(got, "the body B still asks for") || !strings.Contains(got, "* 1 FETCH (UID 1 BODY[] {") {
		t.Fatalf("FETCH answered %q, want message 1's body", got)
	}
	if strings.Contains(got, "EXPUNGE") {
		t.Fatalf("EXPUNGE sent during FETCH: %q", got)
	}
	// Until then the body is still in the store, and so it stays while
	// the grace time runs.
	if n, err := env.store.ReleaseExpunged(ctx, time.Now().Add(-time.Minute)); err != nil || n != 0 {
		t.Fatalf("release before the grace time: %d, %v", n, err)
	}
	runScript(t, b, []exchange{
		{"b2 NOOP", []string{`\* 1 EXPUNGE`, `b2 OK .*`}},
		{"b3 FETCH 1 (UID)", []string{`\* 1 FETCH \(UID 2\)`, `b3 OK .*`}},
	})
	if bl, err := env.store.Blobs().Open(ctx, key); err != nil {
		t.Fatalf("the body went before the grace time: %v", err)
	} else {
		bl.Close()
	}
	n, err := env.store.ReleaseExpunged(ctx, time.Now().Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("release after the grace time: %d bodies, %v; want 1", n, err)
	}
	if _, err := env.store.Blobs().Open(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the expunged body is still there after its release: %v", err)
	}
	// A session that selects now does not see it, and the other message
	// is intact.
	c := dialRaw(t, env.addr)
	c.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	c.cmd("s", "SELECT INBOX")
	untagged, tagged = c.cmd("c1", "UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if !strings.HasPrefix(tagged, "c1 OK") || !strings.Contains(strings.Join(untagged, "\n"), "staying") || strings.Contains(strings.Join(untagged, "\n"), "going") {
		t.Fatalf("after the release: %q %q", untagged, tagged)
	}
}
