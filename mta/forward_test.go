package mta

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/internal/testpeer"
	"github.com/yubinmail/yubin/mta/outbound"
	"github.com/yubinmail/yubin/mta/queue"
	"github.com/yubinmail/yubin/mta/srs"
)

// fwdKeys is a DKIMSource of RSA keys made for the test, and the DNS
// records that publish them.
type fwdKeys map[string]*rsa.PrivateKey // by domain; selector "t1"

func newTestKeys(tb testing.TB, domains ...string) fwdKeys {
	tb.Helper()
	k := fwdKeys{}
	for _, d := range domains {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			tb.Fatal(err)
		}
		k[d] = key
	}
	return k
}

func (k fwdKeys) Signers(_ context.Context, domain string) ([]crypto.Signer, []string, error) {
	if key, ok := k[domain]; ok {
		return []crypto.Signer{key}, []string{"t1"}, nil
	}
	return nil, nil, nil
}

// records maps "t1._domainkey.DOMAIN." to its TXT record.
func (k fwdKeys) records() map[string]string {
	out := map[string]string{}
	for d, key := range k {
		der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
		out["t1._domainkey."+d+"."] = "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	}
	return out
}

func (k fwdKeys) lookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := k.records()[strings.TrimSuffix(name, ".")+"."]; ok {
		return []string{v}, nil
	}
	return nil, errors.New("no such record")
}

// signedMessage is a message of remote.example, DKIM-signed by it.
func signedMessage(tb testing.TB, keys fwdKeys, subject string) string {
	tb.Helper()
	msg := "From: Sender <sender@remote.example>\r\nTo: fwd@example.com\r\nSubject: " + subject + "\r\n" +
		"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@remote.example>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\n  with  spaces\tand tabs  \r\n.dot line\r\n"
	var b bytes.Buffer
	err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{Domain: "remote.example", Selector: "t1", Signer: keys["remote.example"],
		HeaderCanonicalization: dkim.CanonicalizationSimple, BodyCanonicalization: dkim.CanonicalizationSimple})
	if err != nil {
		tb.Fatal(err)
	}
	return b.String()
}

// authResultsFilter adds our Authentication-Results, and judges junk the
// messages whose subject says so.
func authResultsFilter() checkFunc {
	return func(_ context.Context, m *filters.Message) (filters.Verdict, error) {
		v := filters.Verdict{AddHeaders: []filters.HeaderField{{Key: "Authentication-Results",
			Value: testHost + "; spf=pass smtp.mailfrom=remote.example; dkim=pass header.d=remote.example; dmarc=pass header.from=remote.example"}}}
		if strings.Contains(m.Header.Get("Subject"), "SPAM") {
			v.Action, v.Reason = filters.Junk, "spam score 12"
		}
		return v, nil
	}
}

func testSRS(tb testing.TB) *srs.Rewriter {
	r, err := srs.New([]byte("test secret"))
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// smtpSink runs Postfix's smtp-sink on a free loopback port, writing each
// message it receives to a file of dir (testpeer: skipped, or failed with
// YUBIN_TEST_PEERS=required, without it).
func smtpSink(t *testing.T) (addr, dir string) {
	t.Helper()
	bin := testpeer.Need(t, "/usr/sbin/smtp-sink", "postfix")
	// Not under t.TempDir, whose parent only its owner may enter: run as
	// root, smtp-sink writes as nobody.
	dir, err := os.MkdirTemp("", "yubin-smtp-sink-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil { //nolint:gosec // smtp-sink drops to nobody when run as root
		t.Fatal(err)
	}
	addr = "127.0.0.1:" + strconv.Itoa(testpeer.FreePort(t))
	args := []string{"-d", dir + "/%M.", addr, "10"}
	if os.Getuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	testpeer.Start(t, "tcp", addr, nil, bin, args...)
	return addr, dir
}

// sunkMessages returns the messages smtp-sink wrote, oldest first, as
// many as want (waiting until it has closed their files).
func sunkMessages(t *testing.T, dir string, want int) []string {
	t.Helper()
	for i := 0; ; i++ {
		es, _ := os.ReadDir(dir)
		var out []string
		for _, e := range es {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err == nil && bytes.Contains(b, []byte("\n\n")) {
				out = append(out, string(b))
			}
		}
		if len(out) >= want {
			slices.SortFunc(out, func(a, b string) int { return strings.Compare(field(a, "Received"), field(b, "Received")) })
			return out
		}
		if i == 600 {
			t.Fatalf("smtp-sink wrote %d messages, want %d", len(out), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// field returns the first value of a header field of a dumped message.
func field(msg, name string) string {
	m := regexp.MustCompile(`(?mi)^` + regexp.QuoteMeta(name) + `: *(.*)$`).FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	return strings.TrimRight(m[1], "\r")
}

// deliverQueue runs an outbound worker that delivers the store's queue to
// the smarthost addr.
func deliverQueue(t *testing.T, ts *testServer, addr string) {
	t.Helper()
	w, err := outbound.New(outbound.Options{Queue: ts.queue, Store: ts.store, Hostname: testHost, Smarthost: addr, SmarthostTLS: outbound.TLSNone,
		Logger: slog.New(slog.NewTextHandler(tlog{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.ProcessDue(ctx); err != nil {
		t.Fatal(err)
	}
}

// tlog writes a log to the test's.
type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestForwardToRealMTA: issue 18 item 5. Mail to an alias with a target
// elsewhere goes through the outbound queue to a real MTA (Postfix's
// smtp-sink on loopback) from an SRS address of the alias's domain, with
// the sender's DKIM signature intact and our ARC set valid by an
// independent verifier (python3-dkim); a bounce to that SRS address sent
// to our MX reaches the original sender; a forged one is refused; spam is
// not forwarded.
func TestForwardToRealMTA(t *testing.T) {
	sinkAddr, sinkDir := smtpSink(t)
	keys := newTestKeys(t, "example.com", "remote.example")
	ts := startServer(t, func(o *Options) {
		o.Filters = fakeChain(t, authResultsFilter())
		o.SRS = testSRS(t)
		o.DKIM = keys
		o.ARCLookup = keys.lookupTXT
	})
	createAliases(t, ts, map[string][]string{"fwd@example.com": {"friend@elsewhere.example"}})

	msg := signedMessage(t, keys, "forward me")
	if _, err := ts.send(t, "sender@remote.example", []string{"fwd@example.com"}, msg); err != nil {
		t.Fatal(err)
	}
	deliverQueue(t, ts, sinkAddr)
	got := sunkMessages(t, sinkDir, 1)[0]
	mailFrom := strings.Trim(field(got, "X-Mail-Args"), "<> ")
	if mailFrom, _, _ = strings.Cut(mailFrom, ">"); !strings.HasPrefix(mailFrom, "SRS0=") || !strings.HasSuffix(mailFrom, "=remote.example=sender@example.com") {
		t.Fatalf("envelope sender %q, want an SRS0 address of example.com", mailFrom)
	}
	if rcpt := field(got, "X-Rcpt-Args"); !strings.Contains(rcpt, "<friend@elsewhere.example>") {
		t.Fatalf("envelope recipient %q", rcpt)
	}
	// The message as sent, unchanged below the fields added on top.
	// (smtp-sink's dump ends with an empty line of its own.)
	if !strings.HasSuffix(strings.TrimRight(strings.ReplaceAll(got, "\r\n", "\n"), "\n"), strings.TrimRight(strings.ReplaceAll(msg, "\r\n", "\n"), "\n")) {
		t.Fatalf("the forwarded message is not the original with fields on top:\n%q\nwant suffix\n%q", got[len(got)-400:], msg)
	}
	for _, want := range []string{"ARC-Seal: i=1; a=rsa-sha256", "cv=none", "ARC-Message-Signature: i=1", "ARC-Authentication-Results: i=1; " + testHost + "; spf=pass"} {
		if !strings.Contains(got, want) {
			t.Errorf("forwarded message lacks %q", want)
		}
	}
	out := testpeer.VerifyDKIMARC(t, keys.records(), got)
	if !strings.Contains(out, "dkim=pass dkims=2 arc=pass") {
		t.Fatalf("python3-dkim on the forwarded message: %s\n%s", out, got)
	}

	// The bounce comes back to the SRS address and goes on to the sender.
	bounce := "From: MAILER-DAEMON@elsewhere.example\r\nTo: " + mailFrom + "\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\nfriend is gone\r\n"
	if _, err := ts.send(t, "", []string{mailFrom}, bounce); err != nil {
		t.Fatalf("bounce to %s: %v", mailFrom, err)
	}
	deliverQueue(t, ts, sinkAddr)
	all := sunkMessages(t, sinkDir, 2)
	var back string
	for _, m := range all {
		if strings.Contains(m, "friend is gone") {
			back = m
		}
	}
	if back == "" {
		t.Fatalf("the bounce was not sent on")
	}
	if from, rcpt := field(back, "X-Mail-Args"), field(back, "X-Rcpt-Args"); !strings.HasPrefix(from, "<>") || !strings.Contains(rcpt, "<sender@remote.example>") {
		t.Fatalf("bounce sent on from %q to %q", from, rcpt)
	}

	// Forged and foreign SRS addresses are refused.
	local := mailFrom[:strings.IndexByte(mailFrom, '@')]
	h := strings.Split(local, "=")[1]
	forged := strings.Replace(mailFrom, "="+h+"=", "=AAAA=", 1)
	if h == "AAAA" {
		forged = strings.Replace(mailFrom, "="+h+"=", "=BBBB=", 1)
	}
	_, err := ts.send(t, "", []string{forged}, bounce)
	wantCode(t, err, 550, smtp.EnhancedCode{5, 1, 1})
	_, err = ts.send(t, "", []string{strings.Replace(mailFrom, "=sender@", "=mallory@", 1)}, bounce)
	wantCode(t, err, 550, smtp.EnhancedCode{5, 1, 1})

	// Spam is not forwarded: refused when nobody here gets it.
	_, err = ts.send(t, "sender@remote.example", []string{"fwd@example.com"}, signedMessage(t, keys, "SPAM offer"))
	wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1})
	if items, _ := queuedWithBodies(t, ts.queue); len(items) != 0 {
		t.Fatalf("queue after spam: %+v", items)
	}
}

// TestForwardJunkStaysLocal: spam for an alias with local and external
// targets goes to the local Junk folders only.
func TestForwardJunkStaysLocal(t *testing.T) {
	keys := newTestKeys(t, "example.com")
	ts := startServer(t, func(o *Options) {
		o.Filters = fakeChain(t, authResultsFilter())
		o.SRS = testSRS(t)
		o.DKIM = keys
	})
	createAliases(t, ts, map[string][]string{"mixed@example.com": {bob, "friend@elsewhere.example"}})
	if _, err := ts.send(t, "sender@remote.example", []string{"mixed@example.com"}, simpleMsg("SPAM again")); err != nil {
		t.Fatal(err)
	}
	if n := len(messages(t, ts.store, bob, "Junk")); n != 1 {
		t.Fatalf("bob's Junk holds %d", n)
	}
	if items, _ := queuedWithBodies(t, ts.queue); len(items) != 0 {
		t.Fatalf("junk was queued: %+v", items)
	}
	// Good mail goes both ways, the forward from an SRS address.
	if _, err := ts.send(t, "sender@remote.example", []string{"mixed@example.com"}, simpleMsg("ham")); err != nil {
		t.Fatal(err)
	}
	items, bodies := queuedWithBodies(t, ts.queue)
	if len(items) != 1 || !strings.HasPrefix(items[0].Message.From, "SRS0=") || !strings.HasPrefix(bodies[0], "ARC-Seal: i=1;") {
		t.Fatalf("queue: %+v", items)
	}
	if n := len(messages(t, ts.store, bob, "INBOX")); n != 1 {
		t.Fatalf("bob's INBOX holds %d", n)
	}
}

// TestForwardQueueFailureLosesNothing: when the queue refuses the
// forward, the local copies are removed and the sender is asked to retry.
func TestForwardQueueFailureLosesNothing(t *testing.T) {
	fail := true
	var ts *testServer
	ts = startServer(t, func(o *Options) {
		o.Filters = acceptAll()
		o.SRS = testSRS(t)
		o.Enqueue = func(ctx context.Context, in queue.Input) (*queue.Message, error) {
			if fail {
				return nil, errors.New("queue unavailable")
			}
			return ts.queue.Enqueue(ctx, in)
		}
	})
	createAliases(t, ts, map[string][]string{"mixed@example.com": {bob, "friend@elsewhere.example"}})
	_, err := ts.send(t, "sender@remote.example", []string{"mixed@example.com"}, simpleMsg("retry"))
	wantCode(t, err, 451, smtp.EnhancedCode{4, 3, 0})
	if n := len(messages(t, ts.store, bob, "INBOX")); n != 0 {
		t.Fatalf("bob kept %d copies of a refused message", n)
	}
	fail = false
	if _, err := ts.send(t, "sender@remote.example", []string{"mixed@example.com"}, simpleMsg("retry")); err != nil {
		t.Fatal(err)
	}
	if n := len(messages(t, ts.store, bob, "INBOX")); n != 1 {
		t.Fatalf("bob has %d", n)
	}
	if items, _ := queuedWithBodies(t, ts.queue); len(items) != 1 {
		t.Fatalf("queue holds %d", len(items))
	}
}

// TestSieveRedirectWithSRS: with SRS a Sieve redirect elsewhere goes out
// from an SRS address of the user's domain, sealed.
func TestSieveRedirectWithSRS(t *testing.T) {
	keys := newTestKeys(t, "example.com")
	ts := startServer(t, func(o *Options) { o.Filters = fakeChain(t, authResultsFilter()); o.SRS = testSRS(t); o.DKIM = keys })
	setScript(t, ts.store, ann, `redirect "friend@remote.example";`)
	if _, err := ts.send(t, "sender@remote.example", []string{ann}, simpleMsg("pass on")); err != nil {
		t.Fatal(err)
	}
	items, bodies := queuedWithBodies(t, ts.queue)
	if len(items) != 1 || !strings.HasPrefix(items[0].Message.From, "SRS0=") || !strings.HasSuffix(items[0].Message.From, "@example.com") {
		t.Fatalf("queue: %+v", items)
	}
	if !strings.HasPrefix(bodies[0], "ARC-Seal: i=1;") || !strings.Contains(bodies[0], "DKIM-Signature:") {
		t.Fatalf("redirected message:\n%s", bodies[0])
	}
}

// TestForwardUnrewritableSender: a sender SRS cannot carry (its local
// part too long once rewritten) is forwarded as it is, not refused.
func TestForwardUnrewritableSender(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll(); o.SRS = testSRS(t) })
	createAliases(t, ts, map[string][]string{"fwd@example.com": {"friend@elsewhere.example"}})
	long := strings.Repeat("a", 60) + "@remote.example"
	if _, err := ts.send(t, long, []string{"fwd@example.com"}, simpleMsg("long sender")); err != nil {
		t.Fatal(err)
	}
	items, _ := queuedWithBodies(t, ts.queue)
	if len(items) != 1 || items[0].Message.From != long {
		t.Fatalf("queue: %+v", items)
	}
}
