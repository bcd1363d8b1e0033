package netutil

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/limits"
)

// lineSession echoes lines; Interrupt makes it say "bye" and end.
type lineSession struct {
	c         net.Conn
	once      sync.Once
	interrupt chan struct{}
	busy      chan struct{} // closed: the session blocks in a "command" until release
	release   chan struct{}
}

func (s *lineSession) Serve() {
	br := bufio.NewReader(s.c)
	lines := make(chan string)
	go func() {
		defer close(lines)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			lines <- l
		}
	}()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return
			}
			if l == "busy\n" {
				close(s.busy)
				<-s.release
			}
			_, _ = io.WriteString(s.c, l)
		case <-s.interrupt:
			_, _ = io.WriteString(s.c, "bye\n")
			return
		}
	}
}

func (s *lineSession) Interrupt() { s.once.Do(func() { close(s.interrupt) }) }
func (s *lineSession) Close()     { s.c.Close() }

// dialLines connects to ln, closing the connection when the test ends.
func dialLines(t *testing.T, ln net.Listener) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// roundTrip writes line and returns the line that comes back.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, line string) string {
	t.Helper()
	if _, err := io.WriteString(c, line); err != nil {
		t.Fatal(err)
	}
	got, _ := br.ReadString('\n')
	return got
}

func TestSessionsShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	made := make(chan *lineSession, 4)
	ss := NewSessions("TEST", slog.New(slog.DiscardHandler), "refused")
	served := make(chan error, 1)
	go func() {
		served <- ss.Serve(ln, func(c net.Conn) Session {
			s := &lineSession{c: c, interrupt: make(chan struct{}), busy: make(chan struct{}), release: release}
			made <- s
			return s
		})
	}()
	idle, idleR := dialLines(t, ln)
	if got := roundTrip(t, idle, idleR, "hello\n"); got != "hello\n" {
		t.Fatalf("echo = %q", got)
	}
	<-made
	busy, busyR := dialLines(t, ln)
	if _, err := io.WriteString(busy, "busy\n"); err != nil {
		t.Fatal(err)
	}
	busySess := <-made
	<-busySess.busy
	if ss.Active() != 2 {
		t.Errorf("Active = %d, want 2", ss.Active())
	}

	done := make(chan error, 1)
	go func() { done <- ss.Shutdown(context.Background()) }()
	if got, _ := idleR.ReadString('\n'); got != "bye\n" {
		t.Errorf("idle session got %q, want bye", got)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while a session was busy", err)
	default:
	}
	close(release) // the busy command finishes, then the session says bye
	if got, _ := busyR.ReadString('\n'); got != "busy\n" {
		t.Errorf("busy session got %q", got)
	}
	if got, _ := busyR.ReadString('\n'); got != "bye\n" {
		t.Errorf("busy session got %q, want bye", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if err := ss.Serve(ln, nil); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v", err)
	}
}

func TestSessionsShutdownDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	made := make(chan *lineSession, 1)
	ss := NewSessions("TEST", slog.New(slog.DiscardHandler), "refused")
	go ss.Serve(ln, func(c net.Conn) Session {
		s := &lineSession{c: c, interrupt: make(chan struct{}), busy: make(chan struct{}), release: make(chan struct{})}
		made <- s
		return s
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "busy\n")
	s := <-made
	<-s.busy
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	go func() {
		// The stuck command ends when its connection is closed.
		<-s.interrupt
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		_, _ = io.ReadAll(c)
		close(s.release)
	}()
	if err := ss.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want context.Canceled", err)
	}
	if ss.Active() != 0 {
		t.Errorf("Active = %d after Shutdown", ss.Active())
	}
}

// TestSessionsLimit: a connection beyond the per-client cap gets the
// protocol's refusal and is closed, the others are served; a session that
// ends gives its place back.
func TestSessionsLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	caps := limits.NewConnLimiter(0, 2)
	ss := NewSessions("TEST", slog.New(slog.DiscardHandler), "closing")
	ss.Limit(caps, "too many")
	go ss.Serve(ln, func(c net.Conn) Session {
		return &lineSession{c: c, interrupt: make(chan struct{}), busy: make(chan struct{}), release: make(chan struct{})}
	})
	defer ss.Close()
	a, ar := dialLines(t, ln)
	b, br := dialLines(t, ln)
	for _, x := range []struct {
		c  net.Conn
		br *bufio.Reader
	}{{a, ar}, {b, br}} {
		if got := roundTrip(t, x.c, x.br, "ping\n"); got != "ping\n" {
			t.Fatalf("session within the caps: %q", got)
		}
	}
	over, overR := dialLines(t, ln)
	if got, _ := overR.ReadString('\n'); got != "too many\r\n" {
		t.Fatalf("connection over the caps got %q", got)
	}
	if _, err := overR.ReadByte(); err == nil {
		t.Fatal("connection over the caps left open")
	}
	over.Close()
	if n := caps.Active(); n != 2 {
		t.Fatalf("caps hold %d places, want 2", n)
	}
	a.Close()
	for caps.Active() != 1 { // the session ends once it sees the close
		time.Sleep(time.Millisecond)
	}
	c, cr := dialLines(t, ln)
	if got := roundTrip(t, c, cr, "ping\n"); got != "ping\n" {
		t.Fatalf("session after a place was given back: %q", got)
	}
}
