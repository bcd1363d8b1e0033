package pop3server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBackend is an in-memory Backend with one user, alice/secret.
type fakeBackend struct{ msgs []string }

func (b fakeBackend) Authenticate(_ context.Context, user, pass string) (Maildrop, error) {
	if user != "alice" || pass != "secret" {
		return nil, fmt.Errorf("%w: wrong credentials", ErrAuthFailed)
	}
	return &fakeMaildrop{msgs: b.msgs}, nil
}

// fakeMaildrop serves msgs; a message "GONE" acts as one expunged
// meanwhile.
type fakeMaildrop struct {
	msgs    []string
	deleted []string
}

func (m *fakeMaildrop) ID() string { return "alice" }

func (m *fakeMaildrop) List(context.Context) ([]MessageInfo, error) {
	out := make([]MessageInfo, len(m.msgs))
	for i, s := range m.msgs {
		out[i] = MessageInfo{UIDL: "uid-" + strconv.Itoa(i), Size: int64(len(s)), Ref: i}
	}
	return out, nil
}

func (m *fakeMaildrop) Open(_ context.Context, msg MessageInfo) (io.ReadCloser, error) {
	s := m.msgs[msg.Ref.(int)]
	if s == "GONE" {
		return nil, fmt.Errorf("open %s: %w", msg.UIDL, ErrMessageGone)
	}
	return io.NopCloser(strings.NewReader(s)), nil
}

func (m *fakeMaildrop) Close() {}

func (m *fakeMaildrop) Delete(_ context.Context, msgs []MessageInfo) error {
	for _, msg := range msgs {
		m.deleted = append(m.deleted, msg.UIDL)
	}
	return nil
}

// fuzzMessages are the maildrop of FuzzSession.
var fuzzMessages = []string{
	"Subject: a\r\n\r\nbody\r\n",
	"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\nend\r\n.",
	"",
	"GONE",
	"Subject: long\r\n\r\n" + strings.Repeat("y", 5000) + "\r\n.\r\n" + strings.Repeat(".z", 3000) + "\r\n",
}

// pipeConn is a net.Conn that reads a fixed input and records what is
// written to it; deadlines are ignored since the input is finite.
type pipeConn struct {
	in *bytes.Reader

	mu     sync.Mutex
	out    bytes.Buffer
	closed bool
}

func (c *pipeConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.in.Read(p)
}

func (c *pipeConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}

func (c *pipeConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *pipeConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 110}
}

func (c *pipeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *pipeConn) SetDeadline(time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }

// memTLSConfig is a server TLS configuration with a self-signed
// certificate made in memory, once.
var memTLSConfig = sync.OnceValue(func() *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
})

// runSession serves one session over input and returns what the server
// wrote.
func runSession(t *testing.T, input []byte) []byte {
	srv := NewServer(Options{
		Backend:        fakeBackend{msgs: fuzzMessages},
		Hostname:       "fuzz.example",
		TLSConfig:      memTLSConfig(),
		Logger:         slog.New(slog.DiscardHandler),
		IdleTimeout:    100 * time.Millisecond,
		MaxLineLength:  200,
		MaxBadCommands: 10,
	})
	c := &pipeConn{in: bytes.NewReader(input)}
	sess := newSession(srv, c)
	sess.Serve() // returns at the end of the input at the latest
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		t.Fatal("the session ended without closing its connection")
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.locked) != 0 {
		t.Fatalf("session ended with %d locks", len(srv.locked))
	}
	return bytes.Clone(c.out.Bytes())
}

var (
	// multiLineOK are the first lines of the multi-line responses.
	multiLineOK = regexp.MustCompile(`^\+OK (capability list follows|supported mechanisms follow|\d+ messages \(\d+ octets\)|unique-id listing follows|(\d+) octets|top of message follows)$`)
	statusLine  = regexp.MustCompile(`^(\+OK|-ERR)( [\x20-\x7e]*)?$`)
)

// checkTranscript checks the server's side of a session: every line ends
// with CRLF, every response is a status line, and every multi-line
// response is dot-stuffed and terminated; a RETR gives back a message.
func checkTranscript(t *testing.T, input, out []byte) {
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("input %q\noutput %q\n%s", input, out, fmt.Sprintf(format, args...))
	}
	s := string(out)
	if !strings.HasPrefix(s, "+OK fuzz.example POP3 server ready\r\n") {
		fail("no greeting")
	}
	nextLine := func() (string, bool) {
		i := strings.Index(s, "\r\n")
		if i < 0 {
			if s != "" {
				fail("unterminated line %q", s)
			}
			return "", false
		}
		line := s[:i]
		s = s[i+2:]
		if strings.ContainsAny(line, "\r\n") {
			fail("bare CR or LF in line %q", line)
		}
		return line, true
	}
	for {
		line, ok := nextLine()
		if !ok {
			return
		}
		if line == "+OK begin TLS negotiation" {
			return // TLS records follow
		}
		if line == "+ " {
			continue // AUTH continuation request
		}
		if !statusLine.MatchString(line) {
			fail("bad status line %q", line)
		}
		m := multiLineOK.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var body strings.Builder
		for {
			l, ok := nextLine()
			if !ok {
				fail("unterminated multi-line response to %q", line)
			}
			if l == "." {
				break
			}
			if strings.HasPrefix(l, ".") {
				if !strings.HasPrefix(l, "..") {
					fail("body line %q not dot-stuffed", l)
				}
				l = l[1:]
			}
			body.WriteString(l)
			body.WriteString("\r\n")
		}
		if m[2] != "" { // RETR: the whole message, with CRLF added if missing
			size, _ := strconv.Atoi(m[2])
			found := false
			for _, msg := range fuzzMessages {
				if len(msg) == size && (body.String() == msg || body.String() == msg+"\r\n") {
					found = true
				}
			}
			if !found {
				fail("RETR body %q is no message of %d octets", body.String(), size)
			}
		}
	}
}

func FuzzSession(f *testing.F) {
	auth := "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"
	for _, s := range []string{
		"",
		"CAPA\r\nQUIT\r\n",
		"USER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nRETR 2\r\nRETR 3\r\nRETR 4\r\nRETR 5\r\nQUIT\r\n",
		auth + "TOP 1 0\r\nTOP 2 1\r\nTOP 5 2\r\nDELE 1\r\nLIST 1\r\nRSET\r\nDELE 2\r\nQUIT\r\n",
		"AUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nLIST 2\r\nUIDL 3\r\nNOOP\r\n",
		"AUTH PLAIN\r\n*\r\nAUTH\r\nAUTH PLAIN\r\n",
		"USER alice\r\nPASS wrong\r\nUSER alice\r\nPASS secret\r\nDELE 9\r\nDELE 0\r\nRETR\r\n",
		"STLS\r\n\x16\x03\x01\x00\x05hello",
		"STLS\r\nCAPA\r\n",
		"USER " + strings.Repeat("a", 300) + "\r\nNOOP\r\n",
		auth + "RETR 1\nRETR 2\nLIST\n",
		auth + "TOP 1 999999999\r\nTOP 1 1234567890\r\n",
		"\x00\x01\x02\r\n\xff\xfe\r\nQUIT",
		strings.Repeat("FOO\r\n", 12),
		auth + "RETR 1\r\nRETR 2",
		"APOP alice x\r\nUSER alice\r\nAUTH PLAIN\r\n" + strings.Repeat("x", 500) + "\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		out := runSession(t, input)
		checkTranscript(t, input, out)
	})
}
