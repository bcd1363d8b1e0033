package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/tlsutil"
	"github.com/yubinmail/yubin/sieve"
)

const (
	testUser = "tim@example.test"
	testPass = "tanstaaftanstaaf"
)

// memBackend is an in-memory Backend: one user's scripts, compiled with
// package sieve, with quotas.
type memBackend struct {
	mu         sync.Mutex
	scripts    map[string]string
	active     string
	maxScripts int
	maxSize    int64
}

func newMemBackend() *memBackend {
	return &memBackend{scripts: map[string]string{}, maxScripts: 5, maxSize: 4096}
}

func (b *memBackend) Authenticate(_ context.Context, user, pass string) (Scripts, error) {
	if !strings.EqualFold(user, testUser) || pass != testPass {
		return nil, ErrAuthFailed
	}
	return memScripts{b}, nil
}

type memScripts struct{ b *memBackend }

func (m memScripts) Owner() string { return testUser }

func (m memScripts) List(context.Context) ([]ScriptInfo, error) {
	m.b.mu.Lock()
	defer m.b.mu.Unlock()
	var out []ScriptInfo
	for n := range m.b.scripts {
		out = append(out, ScriptInfo{Name: n, Active: n == m.b.active})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m memScripts) Get(_ context.Context, name string) (string, error) {
	m.b.mu.Lock()
	defer m.b.mu.Unlock()
	s, ok := m.b.scripts[name]
	if !ok {
		return "", ErrNonexistent
	}
	return s, nil
}

// check compiles content; a script with "# warn" gets a warning.
func (m memScripts) Check(_ context.Context, content string) ([]string, error) {
	if _, err := sieve.Compile(content, sieve.Limits{}); err != nil {
		var se *sieve.Error
		if errors.As(err, &se) {
			return nil, &InvalidScriptError{Msg: se.Error()}
		}
		return nil, err
	}
	if strings.Contains(content, "# warn") {
		return []string{"line 1: this is a warning"}, nil
	}
	return nil, nil
}

func (m memScripts) Put(ctx context.Context, name, content string) ([]string, error) {
	if err := m.HaveSpace(ctx, name, int64(len(content))); err != nil {
		return nil, err
	}
	w, err := m.Check(ctx, content)
	if err != nil {
		return nil, err
	}
	m.b.mu.Lock()
	defer m.b.mu.Unlock()
	m.b.scripts[name] = content
	return w, nil
}

func (m memScripts) Delete(_ context.Context, name string) error {
	m.b.mu.Lock()
	defer m.b.mu.Unlock()
	if _, ok := m.b.scripts[name]; !ok {
		return ErrNonexistent
	}
	if m.b.active == name {
		return ErrActive
	}
	delete(m.b.scripts, name)
	return nil
}

func (m memScripts) Rename(_ context.Context, oldName, newName string) error {
	m.b.mu.Lock()
	defer m.b.mu.Unlock()
	s, ok := m.b.scripts[oldName]
	if !ok {
		return ErrNonexistent
	}
	if _, ok := m.b.scripts[newName]; ok {
		return ErrAlreadyExists
	}
	delete(m.b.scripts, oldName)
	m.b.scripts[newName] = s
	if m.b.active == oldName {
		m.b.active = newName
	}
	return nil
}

func (m memScripts) SetActive(_ context.Context, name string) error {
	m.b.mu.Lock()
	defer m.b.mu.Unlock()
	if name != "" {
		if _, ok := m.b.scripts[name]; !ok {
			return ErrNonexistent
		}
	}
	m.b.active = name
	return nil
}

func (m memScripts) HaveSpace(_ context.Context, name string, size int64) error {
	m.b.mu.Lock()
	defer m.b.mu.Unlock()
	if size > m.b.maxSize {
		return ErrQuotaMaxSize
	}
	if _, ok := m.b.scripts[name]; !ok && len(m.b.scripts) >= m.b.maxScripts {
		return ErrQuotaMaxScripts
	}
	return nil
}

// testEnv is a running server on loopback.
type testEnv struct {
	srv       *Server
	backend   *memBackend
	addr      string
	clientTLS *tls.Config
	serveErr  chan error
}

// quietLogger drops the server's logs.
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// startServer runs a server with an in-memory backend and STARTTLS on
// 127.0.0.1; mod may change the options.
func startServer(t *testing.T, mod func(*Options)) *testEnv {
	t.Helper()
	serverTLS, err := tlsutil.LoadOrCreate(t.TempDir(), "sieve.test", "", "")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(serverTLS.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	be := newMemBackend()
	opts := Options{Backend: be, Hostname: "sieve.test", TLSConfig: serverTLS, Logger: quietLogger()}
	if mod != nil {
		mod(&opts)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{srv: NewServer(opts), backend: be, addr: ln.Addr().String(),
		clientTLS: &tls.Config{RootCAs: pool, ServerName: "sieve.test"}, serveErr: make(chan error, 1)}
	go func() { env.serveErr <- env.srv.Serve(ln) }()
	t.Cleanup(func() {
		env.srv.Close()
		if err := <-env.serveErr; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return env
}

// client is a line-level ManageSieve client for tests.
type client struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

// dial connects and reads the greeting (capabilities and OK).
func (e *testEnv) dial(t *testing.T) (*client, []string) {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, conn: c, br: bufio.NewReader(c)}
	greeting := cl.response()
	return cl, greeting
}

// send writes raw text (CRLFs included by the caller).
func (c *client) send(raw string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(c.conn, raw); err != nil {
		c.t.Fatalf("send %q: %v", raw, err)
	}
}

var literalAtEnd = regexp.MustCompile(`\{(\d+)\}$`)

// readLine reads one logical line: a line ending in a literal header is
// joined with the literal's octets and what follows them.
func (c *client) readLine() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(time.Minute))
	var out strings.Builder
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v (after %q)", err, out.String()+l)
		}
		l = strings.TrimSuffix(l, "\r\n")
		m := literalAtEnd.FindStringSubmatch(l)
		out.WriteString(l)
		if m == nil {
			return out.String()
		}
		n, _ := strconv.Atoi(m[1])
		buf := make([]byte, n)
		if _, err := io.ReadFull(c.br, buf); err != nil {
			c.t.Fatalf("read literal: %v", err)
		}
		out.WriteString("\r\n")
		out.Write(buf)
	}
}

// response reads lines up to and including an OK, NO or BYE line.
func (c *client) response() []string {
	c.t.Helper()
	var lines []string
	for {
		l := c.readLine()
		lines = append(lines, l)
		if isFinal(l) {
			return lines
		}
	}
}

func isFinal(l string) bool {
	for _, p := range []string{"OK", "NO", "BYE"} {
		if l == p || strings.HasPrefix(l, p+" ") {
			return true
		}
	}
	return false
}

// cmd sends one command line and returns its response.
func (c *client) cmd(line string) []string {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.response()
}

// last returns the final line of a response.
func last(lines []string) string { return lines[len(lines)-1] }

// expect sends a command and checks that its final line starts with want.
func (c *client) expect(line, want string) []string {
	c.t.Helper()
	resp := c.cmd(line)
	if !strings.HasPrefix(last(resp), want) {
		c.t.Fatalf("%q: got %q, want a final line starting with %q", line, resp, want)
	}
	return resp
}

// plain returns the base64 PLAIN response for user and password.
func plain(authz, user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + user + "\x00" + pass))
}

// login authenticates with an initial response.
func (c *client) login() {
	c.t.Helper()
	c.expect(`AUTHENTICATE "PLAIN" "`+plain("", testUser, testPass)+`"`, "OK")
}

// startTLS runs STARTTLS and returns the capabilities sent after it.
func (c *client) startTLS(cfg *tls.Config) []string {
	c.t.Helper()
	c.expect("STARTTLS", "OK")
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn, c.br = tc, bufio.NewReader(tc)
	return c.response()
}
