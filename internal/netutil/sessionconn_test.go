package netutil

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestSessionConnInterrupt: Interrupt ends a read the session waits in,
// StopWaiting then reports the shutdown, and StartWaiting refuses to wait
// once the server stops.
func TestSessionConnInterrupt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	stopping := make(chan struct{})
	sc := NewSessionConn(server, stopping)
	defer sc.Close()

	sc.Interrupt() // not waiting: nothing happens
	if err := sc.StartWaiting(time.Minute); err != nil {
		t.Fatal(err)
	}
	read := make(chan error, 1)
	go func() {
		_, err := sc.Conn().Read(make([]byte, 1))
		read <- sc.StopWaiting(err)
	}()
	close(stopping)
	// The reader may not have blocked yet; the deadline in the past ends
	// the read either way.
	sc.Interrupt()
	if err := <-read; !errors.Is(err, ErrShuttingDown) {
		t.Errorf("interrupted read: %v, want ErrShuttingDown", err)
	}
	if err := sc.StartWaiting(time.Minute); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("StartWaiting after stop: %v", err)
	}
	if err := sc.Close(); err != nil {
		t.Error(err)
	}
	if err := sc.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
