package netutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/yubinmail/yubin/internal/limits"
)

// ErrServerClosed is returned by Sessions.Serve once Close or Shutdown was
// called.
var ErrServerClosed = errors.New("server closed")

// refuseTimeout bounds how long a refused connection (over the caps, or
// accepted during shutdown) may take to receive its refusal.
const refuseTimeout = 5 * time.Second

// maxPendingRefusals bounds the refusals being written at the same time:
// beyond it, refused connections are closed without a word, so that a
// flood cannot pile up goroutines.
const maxPendingRefusals = 256

// Session is one connection served by Sessions.
type Session interface {
	// Serve runs the session until the client leaves, the connection
	// breaks or the session is interrupted or closed.
	Serve()
	// Interrupt asks the session to end at its next quiet moment (while it
	// waits for the client), saying goodbye in its protocol. A command in
	// progress is finished first. Safe from any goroutine.
	Interrupt()
	// Close closes the connection at once. Safe from any goroutine, more
	// than once.
	Close()
}

// Sessions is the connection lifecycle of a protocol server: it accepts
// connections on any number of listeners (retrying temporary errors),
// refuses those over the connection caps (Limit), runs a Session for each
// other, and ends them all on Shutdown (politely) or Close (at once). It
// is safe for concurrent use.
type Sessions struct {
	protocol string
	log      *slog.Logger
	refusal  string // line sent to a connection accepted while closing
	// caps, if set, bounds the sessions in total and per client; overCap
	// is the line a connection beyond them gets (see Limit).
	caps    *limits.ConnLimiter
	overCap string
	pending chan struct{} // refusals being written

	mu        sync.Mutex
	closing   bool
	stopping  chan struct{} // closed when closing is set
	listeners map[*net.Listener]struct{}
	sessions  map[Session]struct{}
	changed   chan struct{} // closed and replaced when a session ends
}

// NewSessions returns a lifecycle for a server of protocol (named in logs,
// e.g. "ManageSieve"). refusal is the line (without CRLF) sent to a
// connection that arrives while the server is closing.
func NewSessions(protocol string, log *slog.Logger, refusal string) *Sessions {
	if log == nil {
		log = slog.Default()
	}
	return &Sessions{
		protocol:  protocol,
		log:       log,
		refusal:   refusal,
		pending:   make(chan struct{}, maxPendingRefusals),
		stopping:  make(chan struct{}),
		listeners: map[*net.Listener]struct{}{},
		sessions:  map[Session]struct{}{},
		changed:   make(chan struct{}),
	}
}

// Limit caps the sessions with caps (per client address and in total):
// a connection beyond them is sent refusal (the protocol's line, without
// CRLF; over TLS on an implicit-TLS listener) and closed. A session holds
// its place until it ends. Call it before Serve.
func (t *Sessions) Limit(caps *limits.ConnLimiter, refusal string) {
	t.caps, t.overCap = caps, refusal
}

// Closing reports whether Close or Shutdown was called.
func (t *Sessions) Closing() bool {
	select {
	case <-t.stopping:
		return true
	default:
		return false
	}
}

// Stopping returns a channel closed when Close or Shutdown is called.
func (t *Sessions) Stopping() <-chan struct{} { return t.stopping }

// Serve accepts connections on ln and runs newSession(c).Serve for each in
// its own goroutine until Close or Shutdown, then returns ErrServerClosed;
// it returns other errors when accepting fails. ln is closed when Serve
// returns.
func (t *Sessions) Serve(ln net.Listener, newSession func(net.Conn) Session) error {
	key := &ln
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	t.listeners[key] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.listeners, key)
		t.mu.Unlock()
		ln.Close()
	}()
	for {
		c, err := Accept(ln, t.stopping, t.log, t.protocol)
		if err != nil {
			if t.Closing() {
				return ErrServerClosed
			}
			return fmt.Errorf("%s serve %s: %w", t.protocol, ln.Addr(), err)
		}
		release := func() {}
		if t.caps != nil {
			var ok bool
			if release, ok = t.caps.Acquire(limits.AddrIP(c.RemoteAddr())); !ok {
				t.log.Debug(t.protocol+" connection over the caps refused", "remote", c.RemoteAddr().String())
				t.refuse(c, t.overCap)
				continue
			}
		}
		sess := newSession(c)
		if !t.track(sess) {
			release()
			t.refuse(c, t.refusal)
			continue
		}
		go func() {
			defer release()
			defer t.untrack(sess)
			defer sess.Close()
			sess.Serve()
		}()
	}
}

// refuse sends c line and closes it, in its own goroutine; when too many
// refusals are under way it closes c at once.
func (t *Sessions) refuse(c net.Conn, line string) {
	select {
	case t.pending <- struct{}{}:
	default:
		c.Close()
		return
	}
	go func() {
		defer func() { <-t.pending }()
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(refuseTimeout))
		_, _ = io.WriteString(c, line+"\r\n")
	}()
}

// track registers a session; false if the server is closing.
func (t *Sessions) track(sess Session) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.sessions[sess] = struct{}{}
	return true
}

// untrack forgets an ended session and wakes Shutdown.
func (t *Sessions) untrack(sess Session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.sessions, sess)
	close(t.changed)
	t.changed = make(chan struct{})
}

// stop marks the server as closing, closes its listeners and returns the
// sessions running at that moment.
func (t *Sessions) stop() ([]Session, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closing {
		t.closing = true
		close(t.stopping)
	}
	var errs []error
	for ln := range t.listeners {
		if err := (*ln).Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return t.running(), errors.Join(errs...)
}

// running lists the tracked sessions; t.mu is held.
func (t *Sessions) running() []Session {
	out := make([]Session, 0, len(t.sessions))
	for sess := range t.sessions {
		out = append(out, sess)
	}
	return out
}

// Active returns the number of running sessions.
func (t *Sessions) Active() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sessions)
}

// Close stops accepting, closes every connection at once and waits for the
// sessions to end.
func (t *Sessions) Close() error {
	sessions, err := t.stop()
	for _, sess := range sessions {
		sess.Close()
	}
	t.wait(context.Background())
	if err != nil {
		return fmt.Errorf("%s close listeners: %w", t.protocol, err)
	}
	return nil
}

// Shutdown stops accepting, interrupts every session (each says goodbye
// once its command in progress is done) and waits for them to end. When
// ctx ends first, it closes the remaining connections, waits for their
// sessions and returns ctx's error.
func (t *Sessions) Shutdown(ctx context.Context) error {
	sessions, err := t.stop()
	t.log.Info(t.protocol+" shutting down", "sessions", len(sessions))
	for _, sess := range sessions {
		sess.Interrupt()
	}
	if !t.wait(ctx) {
		t.mu.Lock()
		rest := t.running()
		t.mu.Unlock()
		t.log.Warn(t.protocol+" shutdown deadline: closing busy sessions", "sessions", len(rest))
		for _, sess := range rest {
			sess.Close()
		}
		t.wait(context.Background())
		return fmt.Errorf("%s shutdown: %w", t.protocol, ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("%s close listeners: %w", t.protocol, err)
	}
	return nil
}

// wait returns true once no session runs, or false when ctx ends first.
func (t *Sessions) wait(ctx context.Context) bool {
	for {
		t.mu.Lock()
		n, changed := len(t.sessions), t.changed
		t.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}
