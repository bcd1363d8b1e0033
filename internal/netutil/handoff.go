package netutil

import (
	"net"
	"sync"
)

// Handoff is a net.Listener that returns the connections handed to it: it
// lets a protocol library that can only serve a listener (go-smtp's
// Server.Serve) serve connections that Sessions accepted, tracks and
// shuts down. A Session's Serve hands its connection over and waits for
// the library to close it. It is safe for concurrent use.
type Handoff struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewHandoff returns an open Handoff.
func NewHandoff() *Handoff {
	return &Handoff{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Hand passes c to the caller of Accept, waiting for one. It returns false,
// without passing c on, once the Handoff is closed; c is then the caller's
// to close.
func (h *Handoff) Hand(c net.Conn) bool {
	select {
	case <-h.done:
		return false
	default:
	}
	select {
	case h.conns <- c:
		return true
	case <-h.done:
		return false
	}
}

// Accept returns the next connection handed over, or net.ErrClosed once
// the Handoff is closed.
func (h *Handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

// Close makes Accept and Hand return; safe more than once.
func (h *Handoff) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

// Addr returns a placeholder address: the connections come from the
// listeners Sessions serves, each with its own address.
func (h *Handoff) Addr() net.Addr { return handoffAddr{} }

// handoffAddr is the address of every Handoff.
type handoffAddr struct{}

// Network implements net.Addr.
func (handoffAddr) Network() string { return "handoff" }

// String implements net.Addr.
func (handoffAddr) String() string { return "handoff" }
