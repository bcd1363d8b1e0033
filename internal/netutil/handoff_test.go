package netutil

import (
	"errors"
	"net"
	"testing"
)

func TestHandoff(t *testing.T) {
	h := NewHandoff()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	got := make(chan net.Conn)
	go func() {
		c, err := h.Accept()
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	if !h.Hand(a) {
		t.Fatal("Hand on an open handoff failed")
	}
	if c := <-got; c != a {
		t.Fatalf("Accept returned %v, want the connection handed over", c)
	}
	h.Close()
	h.Close() // twice is fine
	if h.Hand(b) {
		t.Fatal("Hand after Close succeeded")
	}
	if _, err := h.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}
