package e2e

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestMailboxCap creates IMAP mailboxes until the per-user cap
// (YUBIN_MAX_MAILBOXES): the one beyond it gets a NO that says why, and
// the user keeps exactly the cap (issue 11).
func TestMailboxCap(t *testing.T) {
	t.Parallel()
	const limit = 12
	dir := filepath.Join(t.TempDir(), "data")
	mustCLI(t, "", nil, "domain", "add", "boxes.test", "--data="+dir)
	mustCLI(t, "", nil, "user", "add", "ann@boxes.test", "--password=boxes-password", "--data="+dir)
	srv := newServer(t, dir, fmt.Sprintf("YUBIN_MAX_MAILBOXES=%d", limit))
	srv.start()
	c := imapLogin(t, srv, "ann@boxes.test", "boxes-password")
	defer c.Close()
	var refused error
	for i := range 2 * limit {
		if err := c.Create(fmt.Sprintf("Folder %d", i), nil).Wait(); err != nil {
			refused = err
			break
		}
	}
	var ie *imap.Error
	if !errors.As(refused, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != "LIMIT" || !strings.Contains(ie.Text, "too many mailboxes") {
		t.Fatalf("CREATE beyond the cap of %d: %v; want NO [LIMIT] saying there are too many mailboxes", limit, refused)
	}
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(boxes) != limit {
		t.Errorf("%d mailboxes after the refusal, want %d", len(boxes), limit)
	}
	// The server keeps serving the session.
	if err := c.Delete("Folder 0").Wait(); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	if err := c.Create("Folder again", nil).Wait(); err != nil {
		t.Errorf("CREATE after a DELETE below the cap: %v", err)
	}
	_ = c.Logout().Wait()
	srv.stop()
}
