package smtpserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/internal/testsmtp"
	"github.com/yubinmail/yubin/internal/tlsutil"
)

const testHost = "mail.test.example"

// fakeBackend records what its sessions are told, and keeps the messages.
type fakeBackend struct {
	insecureAuth bool              // AUTH offered without TLS
	urls         map[string]string // BURL URLs and their content
	early        bool              // Data reads 10 bytes and refuses the message

	mu       sync.Mutex
	events   []string
	messages []string
}

func (b *fakeBackend) record(e string) {
	b.mu.Lock()
	b.events = append(b.events, e)
	b.mu.Unlock()
}

func (b *fakeBackend) got() ([]string, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.events...), append([]string(nil), b.messages...)
}

func (b *fakeBackend) NewSession(c *Conn) (Session, error) {
	b.record("session " + c.Hostname())
	return &fakeSession{b: b, c: c}, nil
}

type fakeSession struct {
	b    *fakeBackend
	c    *Conn
	user string
}

func (s *fakeSession) Mail(from string, opts *smtp.MailOptions) error {
	s.b.record("MAIL " + from)
	if from == "refused@remote.example" {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Sender refused"}
	}
	return nil
}

func (s *fakeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.b.record("RCPT " + to)
	if strings.HasPrefix(to, "unknown@") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	}
	return nil
}

func (s *fakeSession) Data(r io.Reader) error {
	if s.b.early {
		_, _ = io.ReadFull(r, make([]byte, 10))
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too large"}
	}
	b, err := io.ReadAll(r)
	if err != nil {
		s.b.record("DATA error " + err.Error())
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "aborted"}
	}
	s.b.mu.Lock()
	s.b.messages = append(s.b.messages, string(b))
	s.b.mu.Unlock()
	if strings.Contains(string(b), "REJECT-ME") {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Rejected"}
	}
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK: queued"}
}

func (s *fakeSession) Reset()        { s.b.record("RESET") }
func (s *fakeSession) Logout() error { s.b.record("LOGOUT"); return nil }

func (s *fakeSession) AuthMechanisms() []string {
	if s.c.TLS() == nil && !s.b.insecureAuth {
		return nil
	}
	return []string{"PLAIN", "LOGIN"}
}

func (s *fakeSession) Authenticate(identity, username, password string) error {
	s.b.record("AUTH " + identity + "/" + username + "/" + password)
	if username == "ann" && password == "secret" && (identity == "" || identity == username) {
		s.user = username
		return nil
	}
	return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
}

func (s *fakeSession) FetchURL(_ context.Context, url string) ([]byte, error) {
	s.b.record("BURL " + url)
	if v, ok := s.b.urls[url]; ok {
		return []byte(v), nil
	}
	return nil, &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 6}, Message: "IMAP URL resolution failed"}
}

// testServer is a Server on 127.0.0.1 with a fakeBackend.
type testServer struct {
	*Server
	addr    string
	backend *fakeBackend
	client  *tls.Config
	done    chan error
}

// startServer serves a fakeBackend with TLS; edit adjusts the options.
func startServer(tb testing.TB, b *fakeBackend, implicit bool, edit func(*Options)) *testServer {
	tb.Helper()
	if b == nil {
		b = &fakeBackend{insecureAuth: true}
	}
	srvTLS, cliTLS := selfSignedTLS(tb)
	opts := Options{Hostname: testHost, TLSConfig: srvTLS, Logger: slog.New(slog.DiscardHandler), MaxMessageBytes: 1 << 20}
	if edit != nil {
		edit(&opts)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	if implicit {
		ln = tls.NewListener(ln, srvTLS)
	}
	s := NewServer(b, opts)
	ts := &testServer{Server: s, addr: addr, backend: b, client: cliTLS, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ln) }()
	tb.Cleanup(func() {
		s.Close()
		select {
		case err := <-ts.done:
			if !errors.Is(err, ErrServerClosed) {
				tb.Errorf("Serve returned %v", err)
			}
		case <-time.After(10 * time.Second):
			tb.Error("Serve did not return after Close")
		}
	})
	return ts
}

// rawClient speaks SMTP line by line.
type rawClient = testsmtp.Client

// raw connects to the server and reads its greeting.
func (ts *testServer) raw(tb testing.TB) *rawClient {
	tb.Helper()
	return testsmtp.Dial(tb, ts.addr)
}

// selfSignedTLS returns the server configuration with the self-signed
// certificate `yubin serve` makes for testHost, and a client configuration
// that trusts it.
func selfSignedTLS(tb testing.TB) (server, client *tls.Config) {
	tb.Helper()
	dir := tb.TempDir()
	server, err := tlsutil.LoadOrCreate(dir, testHost, "", "")
	if err != nil {
		tb.Fatal(err)
	}
	pem, err := os.ReadFile(filepath.Join(dir, "tls", "selfsigned-cert.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		tb.Fatal("no certificate in the PEM file")
	}
	return server, &tls.Config{RootCAs: pool, ServerName: testHost, MinVersion: tls.VersionTLS12}
}
