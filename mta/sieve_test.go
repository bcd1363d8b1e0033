package mta

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
	"github.com/yubinmail/yubin/mta/queue"
)

// setScript stores script as addr's active Sieve script (without the
// service's check, so that a test can store a broken one).
func setScript(tb testing.TB, st *mailstore.Store, addr, script string) {
	tb.Helper()
	ctx := context.Background()
	if err := st.PutSieveScript(ctx, addr, "main", script, 0); err != nil {
		tb.Fatal(err)
	}
	if err := st.ActivateSieveScript(ctx, addr, "main"); err != nil {
		tb.Fatal(err)
	}
}

// queuedWithBodies returns the outbound queue's messages with their bodies.
func queuedWithBodies(tb testing.TB, q *queue.Queue) ([]queue.Item, []string) {
	tb.Helper()
	ctx := context.Background()
	items, err := q.List(ctx, queue.Filter{})
	if err != nil {
		tb.Fatal(err)
	}
	var bodies []string
	for i := range items {
		r, err := q.OpenBody(ctx, &items[i].Message)
		if err != nil {
			tb.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			tb.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	return items, bodies
}

func recipientsOf(it queue.Item) []string {
	var out []string
	for _, r := range it.Recipients {
		out = append(out, r.Address)
	}
	return out
}

// TestSieveFileInto: issue 17 item 1. A user's active script files mail
// into folders (created with :create), with imap4flags flags stored, by
// header and by subaddress detail; discard stores nothing; a message no
// rule takes goes to INBOX.
func TestSieveFileInto(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	setScript(t, ts.store, ann, `require ["fileinto", "mailbox", "imap4flags", "envelope", "subaddress"];
if header :contains "subject" "invoice" {
  fileinto :create :flags ["\\Seen", "$Invoice"] "Invoices/2026";
  stop;
}
if envelope :detail "to" "news" { fileinto :create "News"; stop; }
if header :is "subject" "spam me" { discard; stop; }
if header :is "subject" "missing" { fileinto "No/Such/Box"; }
`)
	for _, m := range []struct{ rcpt, subject string }{
		{ann, "Your invoice 42"},
		{"ann+news@example.com", "weekly"},
		{ann, "spam me"},
		{ann, "hello"},
		{ann, "missing"},
	} {
		if _, err := ts.send(t, "sender@remote.example", []string{m.rcpt}, simpleMsg(m.subject)); err != nil {
			t.Fatalf("%s: %v", m.subject, err)
		}
	}
	inv := metas(t, ts.store, ann, "Invoices/2026")
	if len(inv) != 1 || !inv[0].HasFlag(`\Seen`) || !inv[0].HasFlag("$Invoice") {
		t.Fatalf("Invoices/2026: %+v", inv)
	}
	if got := messages(t, ts.store, ann, "News"); len(got) != 1 || !strings.Contains(got[0], "Subject: weekly") {
		t.Fatalf("News: %q", got)
	}
	inbox := messages(t, ts.store, ann, "INBOX")
	if len(inbox) != 2 || !strings.Contains(inbox[0], "Subject: hello") || !strings.Contains(inbox[1], "Subject: missing") {
		t.Fatalf("INBOX: %d messages", len(inbox))
	}
	if strings.Contains(ts.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("errors logged: %s", ts.logs.String())
	}
}

// TestSieveJunkVisible: the filters' Junk verdict is visible to the
// script, which can take the message out of the Junk folder.
func TestSieveJunkVisible(t *testing.T) {
	junk := verdictFunc(nil, filters.Verdict{Action: filters.Junk, Reason: "spammy", AddHeaders: []filters.HeaderField{{Key: "X-Spam-Status", Value: "Yes, score=9"}}})
	ts := startServer(t, func(o *Options) { o.Filters = fakeChain(t, junk) })
	setScript(t, ts.store, ann, `require "fileinto";
if allof (header :is "X-Yubin-Junk" "yes", header :contains "X-Spam-Status" "Yes", address :domain "from" "remote.example") { fileinto "INBOX"; }
`)
	setScript(t, ts.store, bob, `keep;`)
	if _, err := ts.send(t, "sender@remote.example", []string{ann, bob}, simpleMsg("trusted")); err != nil {
		t.Fatal(err)
	}
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 1 {
		t.Fatalf("ann's INBOX holds %d, want 1", n)
	}
	if n := len(messages(t, ts.store, bob, "Junk")); n != 1 {
		t.Fatalf("bob's Junk holds %d, want 1 (keep of junk is Junk)", n)
	}
}

// TestSieveBrokenScriptDeliversToInbox: a script that cannot be compiled
// or fails at run time leaves the message in INBOX, and the log says why.
func TestSieveBrokenScriptDeliversToInbox(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	setScript(t, ts.store, ann, `require "fileinto"; fileinto "x"`) // no ';'
	var six strings.Builder
	for i := range 6 {
		six.WriteString("redirect \"r" + string(rune('a'+i)) + "@remote.example\";\n")
	}
	setScript(t, ts.store, bob, six.String()) // more redirects than allowed
	if _, err := ts.send(t, "sender@remote.example", []string{ann, bob}, simpleMsg("broken")); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{ann, bob} {
		if n := len(messages(t, ts.store, u, "INBOX")); n != 1 {
			t.Fatalf("%s's INBOX holds %d, want 1", u, n)
		}
	}
	if items, _ := queuedWithBodies(t, ts.queue); len(items) != 0 {
		t.Fatalf("queued %d messages for a failed script", len(items))
	}
	logs := ts.logs.String()
	if strings.Count(logs, "sieve script failed") != 2 {
		t.Fatalf("log does not say why twice: %s", logs)
	}
}

// TestSieveReject: a reject for the only recipient is a 550 with the
// reason at SMTP time; with other recipients they get their copies and
// the sender a rejection message through the queue.
func TestSieveReject(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	setScript(t, ts.store, ann, `require "reject";
if header :contains "subject" "buy" { reject "I do not buy anything."; }
`)
	_, err := ts.send(t, "sender@remote.example", []string{ann}, simpleMsg("buy now"))
	wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1})
	if !strings.Contains(err.Error(), "I do not buy anything.") {
		t.Fatalf("reply %q lacks the reason", err)
	}
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 0 {
		t.Fatalf("rejected message stored: %d", n)
	}

	if _, err := ts.send(t, "sender@remote.example", []string{ann, bob}, simpleMsg("buy more")); err != nil {
		t.Fatal(err)
	}
	if n := len(messages(t, ts.store, bob, "INBOX")); n != 1 {
		t.Fatalf("bob's INBOX holds %d, want 1", n)
	}
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 0 {
		t.Fatalf("ann's INBOX holds %d, want 0", n)
	}
	items, bodies := queuedWithBodies(t, ts.queue)
	if len(items) != 1 || items[0].Message.From != "" || !slices.Equal(recipientsOf(items[0]), []string{"sender@remote.example"}) {
		t.Fatalf("queue: %+v", items)
	}
	for _, want := range []string{"report-type=disposition-notification", "Disposition: automatic-action/MDN-sent-automatically; deleted", "I do not buy anything.", "Subject: buy more"} {
		if !strings.Contains(bodies[0], want) {
			t.Errorf("rejection message lacks %q:\n%s", want, bodies[0])
		}
	}
}

// TestSieveRedirect: a redirect to a local user arrives in their INBOX,
// one to an address elsewhere is queued (from the redirecting user); with
// :copy the user keeps one. Junk is never redirected, and redirects count
// in the user's sending rate.
func TestSieveRedirect(t *testing.T) {
	verdict := filters.Verdict{}
	f := checkFunc(func(context.Context, *filters.Message) (filters.Verdict, error) { return verdict, nil })
	rate := NewSendRate(3)
	ts := startServer(t, func(o *Options) { o.Filters = fakeChain(t, f); o.SendRate = rate })
	setScript(t, ts.store, ann, `require ["copy"];
redirect "bob@example.com";
redirect :copy "friend@remote.example";
`)
	if _, err := ts.send(t, "sender@remote.example", []string{ann}, simpleMsg("pass on")); err != nil {
		t.Fatal(err)
	}
	if got := messages(t, ts.store, bob, "INBOX"); len(got) != 1 || !strings.Contains(got[0], "Subject: pass on") || !strings.Contains(got[0], "Delivered-To: bob@example.com") {
		t.Fatalf("bob's INBOX: %q", got)
	}
	if n := len(messages(t, ts.store, ann, "INBOX")); n != 0 {
		t.Fatalf("ann kept %d copies of a redirect without keep", n)
	}
	items, bodies := queuedWithBodies(t, ts.queue)
	if len(items) != 1 || items[0].Message.From != ann || !slices.Equal(recipientsOf(items[0]), []string{"friend@remote.example"}) || !strings.Contains(bodies[0], "Subject: pass on") {
		t.Fatalf("queue: %+v", items)
	}

	// Junk: no redirect, the message stays (in Junk).
	verdict = filters.Verdict{Action: filters.Junk, Reason: "spam"}
	if _, err := ts.send(t, "sender@remote.example", []string{ann}, simpleMsg("junk")); err != nil {
		t.Fatal(err)
	}
	if n := len(messages(t, ts.store, ann, "Junk")); n != 1 {
		t.Fatalf("ann's Junk holds %d, want 1", n)
	}
	if n := len(messages(t, ts.store, bob, "INBOX")); n != 1 {
		t.Fatalf("junk was redirected to bob")
	}

	// The rate: 2 of 3 are used; the next message's 2 redirects do not
	// fit, so it is kept instead.
	verdict = filters.Verdict{}
	if _, err := ts.send(t, "sender@remote.example", []string{ann}, simpleMsg("over the rate")); err != nil {
		t.Fatal(err)
	}
	if got := messages(t, ts.store, ann, "INBOX"); len(got) != 1 || !strings.Contains(got[0], "over the rate") {
		t.Fatalf("a redirect beyond the rate was not kept: %d", len(got))
	}
	if items, _ := queuedWithBodies(t, ts.queue); len(items) != 1 {
		t.Fatalf("queue holds %d after the rate ran out", len(items))
	}
}

// serveExisting runs a server on the store in dir (as launch made it).
func serveExisting(tb testing.TB, dir string, edit func(*Options)) *testServer {
	tb.Helper()
	st, err := mailstore.Open(context.Background(), mailstore.Options{Dir: filepath.Join(dir, "store"), Database: mailstoretest.DSNIn(tb, filepath.Join(dir, "store")), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	q, err := queue.Open(context.Background(), st, st, nil)
	if err != nil {
		tb.Fatal(err)
	}
	logs := &syncBuffer{}
	opts := Options{Store: st, Enqueue: q.Enqueue, Hostname: testHost, SpoolDir: filepath.Join(dir, "spool"), SubaddressDelimiters: "+",
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if edit != nil {
		edit(&opts)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := NewServer(opts)
	ts := &testServer{Server: s, addr: ln.Addr().String(), store: st, queue: q, logs: logs, done: make(chan error, 1), dir: dir}
	go func() { ts.done <- s.Serve(ln) }()
	tb.Cleanup(func() {
		s.Close()
		<-ts.done
		st.Close()
	})
	return ts
}

// TestSieveVacationOncePerPeriodAcrossRestart: a vacation reply goes to
// the sender once (queued from the null sender, Auto-Submitted,
// In-Reply-To), not again within :days, also after the store was closed
// and opened again; never to a list.
func TestSieveVacationOncePerPeriodAcrossRestart(t *testing.T) {
	keys := dkimKeys(t)
	edit := func(o *Options) { o.Filters = acceptAll(); o.DKIM = keys }
	dir := t.TempDir()
	tmpl := template.get(t)
	ts, stop, err := launch(tmpl, dir, tmpl.clone(t, filepath.Join(dir, "store")), &syncBuffer{}, edit)
	if err != nil {
		t.Fatal(err)
	}
	setScript(t, ts.store, ann, `require "vacation";
vacation :days 3 :subject "Away until Monday" "I am away until Monday.";
`)
	if _, err := ts.send(t, "sender@remote.example", []string{ann}, simpleMsg("first")); err != nil {
		t.Fatal(err)
	}
	list := "List-Id: <news.remote.example>\r\n" + simpleMsg("list mail")
	if _, err := ts.send(t, "news@remote.example", []string{ann}, list); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.send(t, "sender@remote.example", []string{ann}, simpleMsg("second")); err != nil {
		t.Fatal(err)
	}
	items, bodies := queuedWithBodies(t, ts.queue)
	if len(items) != 1 || items[0].Message.From != "" || !slices.Equal(recipientsOf(items[0]), []string{"sender@remote.example"}) {
		t.Fatalf("queue after two messages: %+v", items)
	}
	for _, want := range []string{"Auto-Submitted: auto-replied", "In-Reply-To: <first@remote.example>", "Subject: Away until Monday", "I am away until Monday."} {
		if !strings.Contains(bodies[0], want) {
			t.Errorf("reply lacks %q:\n%s", want, bodies[0])
		}
	}
	vs, err := dkim.VerifyWithOptions(strings.NewReader(bodies[0]), &dkim.VerifyOptions{LookupTXT: keys.lookupTXT})
	if err != nil || len(vs) == 0 || vs[0].Err != nil || vs[0].Domain != "example.com" {
		t.Errorf("the reply's DKIM signatures: %+v, %v", vs, err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	ts2 := serveExisting(t, dir, edit)
	if _, err := ts2.send(t, "sender@remote.example", []string{ann}, simpleMsg("third")); err != nil {
		t.Fatal(err)
	}
	if items, _ := queuedWithBodies(t, ts2.queue); len(items) != 1 {
		t.Fatalf("a second reply within the period after a restart: %d queued", len(items))
	}
	if n := len(messages(t, ts2.store, ann, "INBOX")); n != 4 {
		t.Fatalf("ann's INBOX holds %d, want 4", n)
	}
	// Another sender gets one.
	if _, err := ts2.send(t, "other@remote.example", []string{ann}, simpleMsg("fourth")); err != nil {
		t.Fatal(err)
	}
	if items, _ := queuedWithBodies(t, ts2.queue); len(items) != 2 {
		t.Fatalf("queue holds %d, want 2", len(items))
	}
}

// TestSieveOnSubmission: mail a local user submits to another runs the
// recipient's script too; a vacation reply to a local sender lands in the
// sender's INBOX.
func TestSieveOnSubmission(t *testing.T) {
	ts, _ := startSubmission(t, false, nil)
	setScript(t, ts.store, bob, `require ["fileinto", "vacation"];
if address :is "from" "ann@example.com" { fileinto "FromAnn"; }
vacation :subject "Bob is away" "Back on Monday.";
`)
	if _, err := ts.store.CreateMailbox(context.Background(), userID(t, ts.store, bob), "FromAnn", ""); err != nil {
		t.Fatal(err)
	}
	c := login(t, ts, ann)
	if _, err := sendOn(c, ann, []string{bob, "friend@remote.example"}, msgFrom("Ann <ann@example.com>", "Bob <bob@example.com>", "lunch"), nil); err != nil {
		t.Fatal(err)
	}
	if got := messages(t, ts.store, bob, "FromAnn"); len(got) != 1 || !strings.Contains(got[0], "Subject: lunch") {
		t.Fatalf("bob's FromAnn: %d messages", len(got))
	}
	if got := inbox(t, ts.store, ann); len(got) != 1 || !strings.Contains(got[0], "Subject: Bob is away") || !strings.Contains(got[0], "Auto-Submitted: auto-replied") {
		t.Fatalf("ann's INBOX: %q", got)
	}
	if items := queued(t, ts.queue); len(items) != 1 || !slices.Equal(recipientsOf(items[0]), []string{"friend@remote.example"}) {
		t.Fatalf("queue: %+v", items)
	}
}

func userID(tb testing.TB, st *mailstore.Store, addr string) int64 {
	tb.Helper()
	u, err := st.GetUser(context.Background(), addr)
	if err != nil {
		tb.Fatal(err)
	}
	return u.ID
}

// TestSieveRedirectToFullMailbox: a redirect to a local mailbox that
// cannot take the message refuses it for the recipient whose script made
// the redirect, and nothing is stored.
func TestSieveRedirectToFullMailbox(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	setScript(t, ts.store, ann, `redirect "tiny@example.com";`)
	_, err := ts.send(t, "sender@remote.example", []string{ann}, simpleMsg("too big for tiny")+strings.Repeat("padding line\r\n", 40))
	wantCode(t, err, 552, smtp.EnhancedCode{5, 2, 2})
	if !strings.Contains(err.Error(), "<ann@example.com>") {
		t.Fatalf("the refusal does not name the recipient: %v", err)
	}
	for _, u := range []string{ann, tiny} {
		if n := len(messages(t, ts.store, u, "INBOX")); n != 0 {
			t.Fatalf("%s holds %d", u, n)
		}
	}
}
