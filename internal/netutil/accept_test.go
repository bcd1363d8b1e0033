package netutil

import (
	"errors"
	"log/slog"
	"net"
	"testing"
)

// tempErr is a temporary accept error.
type tempErr struct{}

func (tempErr) Error() string   { return "too many open files" }
func (tempErr) Temporary() bool { return true }
func (tempErr) Timeout() bool   { return false }

// fakeListener returns errs one by one, then a connection.
type fakeListener struct {
	net.Listener
	errs []error
	conn net.Conn
}

func (l *fakeListener) Accept() (net.Conn, error) {
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		return nil, err
	}
	return l.conn, nil
}

func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

func TestAccept(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	stopped := make(chan struct{})
	close(stopped)
	permanent := errors.New("listener broken")
	tests := []struct {
		name    string
		errs    []error
		stop    <-chan struct{}
		wantErr error
	}{
		{"connection", nil, nil, nil},
		{"temporary errors are retried", []error{tempErr{}, tempErr{}}, nil, nil},
		{"other errors are returned", []error{permanent}, nil, permanent},
		{"closed listener", []error{net.ErrClosed}, nil, net.ErrClosed},
		{"stop during a pause", []error{tempErr{}}, stopped, net.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := &fakeListener{errs: tt.errs, conn: c1}
			c, err := Accept(ln, tt.stop, log, "TEST")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && c != c1 {
				t.Errorf("got conn %v, want the listener's", c)
			}
		})
	}
}
