package netutil

import (
	"fmt"
	"net"
)

// FreeLoopbackPort returns a TCP port on 127.0.0.1 that was free a moment
// ago, for a helper process (a test peer, a benchmark's anchor) that must
// be told its port before it starts.
func FreeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
