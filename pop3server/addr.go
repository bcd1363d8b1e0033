package pop3server

import (
	"crypto/tls"
	"net"
	"net/netip"
)

// addrIP returns the IP address of a remote address, or the zero Addr if it
// has none (e.g. a pipe).
func addrIP(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case nil:
		return netip.Addr{}
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// isLoopback reports whether remote is a loopback address: the default of
// Options.InsecureAuth.
func isLoopback(remote net.Addr) bool {
	return addrIP(remote).IsLoopback()
}

// tlsConn is implemented by *tls.Conn and by wrappers that expose its state.
type tlsConn interface {
	ConnectionState() tls.ConnectionState
}

// isTLS reports whether c is a TLS connection: a *tls.Conn, or a wrapper
// that has its ConnectionState or wraps one (NetConn, like tls.Conn has).
func isTLS(c net.Conn) bool {
	for range 8 { // bounded: a wrapper could return itself
		if _, ok := c.(tlsConn); ok {
			return true
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return false
		}
		c = u.NetConn()
	}
	return false
}
