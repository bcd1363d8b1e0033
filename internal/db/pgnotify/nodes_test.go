package pgnotify

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/imapserver"
	"github.com/yubinmail/yubin/internal/testimap"
	"github.com/yubinmail/yubin/mailstore"
)

const (
	nodeUser = "alice@example.test"
	nodePass = "correct horse battery"
)

// imapNode is one node: a store on the shared database, its notifier and
// an IMAP server on 127.0.0.1.
type imapNode struct {
	store *mailstore.Store
	addr  string
}

// startNode opens a store with opts (the shared database), its notifier
// on dsn, and serves IMAP on it.
func startNode(t *testing.T, dsn string, opts mailstore.Options) *imapNode {
	t.Helper()
	n, err := Open(context.Background(), dsn, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	opts.Logger, opts.Notifier = quiet(), n
	st, err := mailstore.Open(context.Background(), opts)
	if err != nil {
		if opts.Database != "" {
			t.Skipf("the mailstore does not open on PostgreSQL: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := imapserver.NewServer(imapserver.Options{Backend: imapserver.NewStoreBackend(st), Hostname: "mail.test", Logger: quiet()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &imapNode{store: st, addr: ln.Addr().String()}
}

// login logs in as the test user and selects INBOX.
func login(r *testimap.Conn) {
	r.OK("l", `LOGIN `+nodeUser+` "`+nodePass+`"`)
	r.OK("e", "ENABLE IMAP4rev2")
	r.OK("s", "SELECT INBOX")
}

// TestIMAPSessionsFollowAnotherNode runs two nodes on one database: a
// client IDLE on node B sees the delivery, the flag change and the expunge
// made on node A, over IMAP on 127.0.0.1. The nodes' events go through
// PostgreSQL; their mail is on it too, each node with a data folder of its
// own and the blob folder shared, or (the notifier alone) in one SQLite
// file both open.
func TestIMAPSessionsFollowAnotherNode(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		dsn := testDSN(t)
		blobs := t.TempDir()
		followAnotherNode(t, dsn,
			mailstore.Options{Dir: t.TempDir(), Database: dsn, BlobDir: blobs},
			mailstore.Options{Dir: t.TempDir(), Database: dsn, BlobDir: blobs})
	})
	t.Run("sqlite-file", func(t *testing.T) {
		dir := t.TempDir()
		followAnotherNode(t, testDSN(t), mailstore.Options{Dir: dir}, mailstore.Options{Dir: dir})
	})
}

func followAnotherNode(t *testing.T, dsn string, optsA, optsB mailstore.Options) {
	a := startNode(t, dsn, optsA)
	b := startNode(t, dsn, optsB)
	ctx := context.Background()
	if _, err := a.store.CreateDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	u, err := a.store.CreateUser(ctx, mailstore.NewUser{Address: nodeUser, Password: nodePass})
	if err != nil {
		t.Fatal(err)
	}

	idler := testimap.Dial(t, b.addr)
	login(idler)
	idler.Send("i IDLE")
	if l := idler.Line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}

	start := time.Now()
	res, err := a.store.Deliver(ctx, mailstore.Delivery{
		Targets: []mailstore.DeliveryTarget{{UserID: u.ID, Mailbox: "INBOX"}},
		Body:    strings.NewReader("From: bob@example.test\r\nSubject: hi\r\n\r\nhello\r\n"),
	})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	idler.Until("* 1 EXISTS")
	t.Logf("IDLE on node B saw node A's delivery after %v", time.Since(start))

	client := testimap.Dial(t, a.addr)
	login(client)
	client.OK("f", `UID STORE 1 +FLAGS (\Flagged)`)
	if l := idler.Until("* 1 FETCH"); l != `* 1 FETCH (UID 1 FLAGS (\Flagged))` {
		t.Fatalf("flags on B: %q", l)
	}
	client.OK("d", `UID STORE 1 +FLAGS.SILENT (\Deleted)`)
	client.OK("x", "EXPUNGE")
	idler.Until("* 1 EXPUNGE")
	idler.Send("DONE")
	idler.Until("i OK")
	if got := idler.OK("n", "NOOP"); len(got) != 0 {
		t.Fatalf("NOOP after the expunge: %q", got)
	}
	if got := idler.OK("st", "STATUS INBOX (MESSAGES)"); len(got) != 1 || !strings.Contains(got[0], "MESSAGES 0") {
		t.Fatalf("STATUS on B: %q", got)
	}
}
