package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/mailstore"
)

const (
	durUser     = "dur@example.com"
	durPassword = "durability-pw"
	durSenders  = 20
)

// subjectRE finds the test id in a stored message.
var subjectRE = regexp.MustCompile(`(?m)^Subject: dur ([a-z0-9-]+)\r$`)

// TestDurabilityKill9 sends mail from 20 concurrent SMTP clients, kills
// the server with SIGKILL in the middle, and checks after each kill that
// every message that got its 250 is stored exactly once and complete, and
// that nothing half-stored is visible. It kills at three different moments
// of the load, on the same data folder, then restarts the server a last
// time and reads the mail back over IMAP.
func TestDurabilityKill9(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustCLI(t, "", nil, "domain", "add", "example.com", "--data", dir)
	mustCLI(t, "", nil, "user", "add", durUser, "--password", durPassword, "--data", dir)

	srv := newServer(t, dir, "YUBIN_MAX_CONNECTIONS_PER_IP=200")
	acked := map[string]bool{} // every acknowledged id, all rounds
	// Each round kills at a different moment after the first
	// acknowledgement (waiting for one keeps a slow machine or a -race build
	// from killing before anything was acknowledged).
	for round, killAfter := range []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond} {
		srv.start()
		l := startLoad(srv.addrs["smtp"], round)
		for deadline := time.Now().Add(30 * time.Second); l.acks.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(killAfter)
		inFlight := l.attempts.Load() - l.acks.Load()
		srv.kill9()
		ids, attempts := l.stop()
		if len(ids) == 0 {
			t.Fatalf("round %d: no message was acknowledged within 30 s; the test proves nothing", round)
		}
		for _, id := range ids {
			acked[id] = true
		}
		t.Logf("round %d: killed %s after the first acknowledgement with %d messages in flight; %d acknowledged, %d attempted in all",
			round, killAfter, inFlight, len(ids), attempts)
		checkStored(t, dir, acked)
		if t.Failed() {
			return
		}
	}

	// A last start on the data folder: the acknowledged mail is all there
	// over IMAP too.
	srv.start()
	subjects := imapSubjects(t, srv, durUser, durPassword)
	for id := range acked {
		if subjects["dur "+id] != 1 {
			t.Errorf("IMAP: acknowledged message %s seen %d times", id, subjects["dur "+id])
		}
	}
	srv.stop()
}

// load is a set of concurrent SMTP senders.
type load struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	acked    []string
	attempts atomic.Int64
	acks     atomic.Int64
}

// startLoad starts durSenders senders, each sending numbered messages in a
// loop over one connection (a new one after an error) until stopped or the
// server is gone.
func startLoad(addr string, round int) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	for s := range durSenders {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.sender(ctx, addr, round, s)
		}()
	}
	return l
}

// stop stops the senders and returns the acknowledged ids and the number
// of messages attempted.
func (l *load) stop() ([]string, int64) {
	l.cancel()
	l.wg.Wait()
	return l.acked, l.attempts.Load()
}

func (l *load) sender(ctx context.Context, addr string, round, sender int) {
	var c *smtp.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for n := 0; ctx.Err() == nil; n++ {
		if c == nil {
			conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return // the server is gone
			}
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			c = smtp.NewClient(conn)
			if err := c.Hello("sender.test"); err != nil {
				c.Close()
				c = nil
				continue
			}
		}
		id := fmt.Sprintf("r%d-s%02d-n%04d", round, sender, n)
		l.attempts.Add(1)
		err := c.SendMail(fmt.Sprintf("sender%d@remote.test", sender), []string{durUser}, bytes.NewReader(durMessage(id, sender, n)))
		if err != nil {
			c.Close()
			c = nil
			continue
		}
		l.acks.Add(1)
		l.mu.Lock()
		l.acked = append(l.acked, id)
		l.mu.Unlock()
	}
}

// durMessage builds a test message whose body has a known number of lines
// and ends with a sentinel line naming it. Most are small; some are a few
// hundred kilobytes, and a few are larger than the SMTP server's 1 MiB
// in-memory spool.
func durMessage(id string, sender, n int) []byte {
	lines := 20 + (sender*7+n*13)%60
	switch {
	case n%40 == 39 && sender%5 == 0:
		lines = 20000 // about 1.5 MB
	case n%10 == 9:
		lines = 4000 // about 300 KB
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <sender%d@remote.test>\r\n", sender)
	fmt.Fprintf(&b, "To: <%s>\r\n", durUser)
	fmt.Fprintf(&b, "Subject: dur %s\r\n", id)
	fmt.Fprintf(&b, "Message-ID: <%s@remote.test>\r\n", id)
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "X-Body-Lines: %d\r\n", lines)
	b.WriteString("\r\n")
	for i := range lines {
		fmt.Fprintf(&b, "%s line %05d the quick brown fox jumps over the lazy dog 0123456789\r\n", id, i)
	}
	fmt.Fprintf(&b, "SENTINEL %s\r\n", id)
	return b.Bytes()
}

// checkStored opens the data folder (the server is dead) and checks that
// each id in acked is stored exactly once, that every stored message is
// complete, and that no message is stored twice.
func checkStored(t *testing.T, dir string, acked map[string]bool) {
	t.Helper()
	st := openStore(t, dir)
	defer st.Close()
	msgs := inbox(t, st, durUser)
	seen := map[string]int{}
	for i, m := range msgs {
		sm := subjectRE.FindSubmatch(m)
		if sm == nil {
			t.Errorf("stored message %d has no test subject (%d bytes): %.200q", i, len(m), m)
			continue
		}
		id := string(sm[1])
		seen[id]++
		if !bytes.HasSuffix(m, []byte("\r\nSENTINEL "+id+"\r\n")) {
			t.Errorf("stored message %s is incomplete (%d bytes), ends %q", id, len(m), m[max(0, len(m)-80):])
			continue
		}
		var want int
		if _, err := fmt.Sscanf(headerValue(m, "X-Body-Lines"), "%d", &want); err != nil {
			t.Errorf("stored message %s: bad X-Body-Lines: %v", id, err)
			continue
		}
		if got := bytes.Count(m, []byte("\r\n"+id+" line ")); got != want {
			t.Errorf("stored message %s has %d body lines, want %d", id, got, want)
		}
	}
	var missing []string
	for id := range acked {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d acknowledged messages are lost, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("message %s stored %d times", id, n)
		}
	}
	u, err := st.GetUser(context.Background(), durUser)
	if err != nil {
		t.Fatal(err)
	}
	// Both ways of keeping a body are exercised: small ones inline in the
	// database (committed with their metadata), large ones as files.
	mb, err := st.GetMailbox(context.Background(), u.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	metas, err := st.ListMessages(context.Background(), mb.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	inline, large := 0, 0
	for _, m := range metas {
		switch {
		case mailstore.IsInlineKey(m.BlobKey):
			inline++
			if m.Size > mailstore.DefaultInlineMax {
				t.Errorf("a body of %d bytes is inline", m.Size)
			}
		default:
			large++
			if m.Size <= mailstore.DefaultInlineMax {
				t.Errorf("a body of %d bytes is a file", m.Size)
			}
		}
	}
	if len(metas) > 0 && inline == 0 {
		t.Errorf("none of the %d stored bodies is inline: the test misses that way", len(metas))
	}
	t.Logf("stored bodies: %d inline, %d files", inline, large)
	if u.UsedMessages != int64(len(msgs)) {
		t.Errorf("quota usage says %d messages, INBOX has %d", u.UsedMessages, len(msgs))
	}
	t.Logf("stored: %d messages (%d acknowledged, %d more were committed but not acknowledged before the kill)",
		len(msgs), len(acked), len(msgs)-len(acked))
}

// headerValue returns the first value of a header field of a raw message.
func headerValue(m []byte, name string) string {
	head, _, _ := bytes.Cut(m, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
