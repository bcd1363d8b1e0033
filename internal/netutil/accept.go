// Package netutil holds the network pieces the protocol servers share:
// the accept loop (Accept) and the connection lifecycle (Sessions, which
// accepts, tracks and ends sessions on Shutdown or Close, and SessionConn,
// the session's side of it: waiting for the client, being interrupted
// between commands, closing once), and Handoff, which lets a library that
// only serves a listener (go-smtp) serve the connections Sessions accepted.
package netutil

import (
	"errors"
	"log/slog"
	"net"
	"time"
)

// maxBackoff bounds the wait between retries of a failing Accept.
const maxBackoff = time.Second

// Accept returns the next connection of ln. Temporary errors (such as
// running out of file descriptors) are logged and retried with a growing
// pause, as net/http does; other errors are returned. When stop is closed
// during a pause, Accept returns net.ErrClosed. protocol names the server
// in the log ("IMAP", "POP3").
func Accept(ln net.Listener, stop <-chan struct{}, log *slog.Logger, protocol string) (net.Conn, error) {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err == nil {
			return c, nil
		}
		var te interface{ Temporary() bool }
		if !errors.As(err, &te) || !te.Temporary() || errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		backoff = min(max(2*backoff, 5*time.Millisecond), maxBackoff)
		log.Warn(protocol+" accept failed; retrying", "addr", ln.Addr().String(), "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return nil, net.ErrClosed
		}
	}
}

// IsLoopback reports whether a is a TCP address on the loopback network:
// the protocol servers' default policy for logins without TLS.
func IsLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
