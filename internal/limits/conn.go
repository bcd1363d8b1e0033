package limits

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

const (
	// rejectTimeout bounds how long a refused connection may take to
	// receive its refusal message.
	rejectTimeout = 5 * time.Second
	// maxPendingRejects bounds the number of refused connections that are
	// being sent a refusal message at the same time. Beyond that, refused
	// connections are closed without a message so that a connection flood
	// cannot pile up goroutines.
	maxPendingRejects = 256
)

// ConnLimiter caps concurrent connections in total and per client: per
// IPv4 address, per IPv6 prefix (/64 by default).
// Create one with NewConnLimiter; it is safe for concurrent use.
type ConnLimiter struct {
	total int
	perIP int
	// ipv6Prefix groups IPv6 clients: one client usually holds a whole
	// /64, so counting its addresses one by one would let it multiply the
	// per-IP cap (see WithIPv6Prefix).
	ipv6Prefix int

	mu     sync.Mutex
	active int                // connections currently held
	byIP   map[netip.Addr]int // connections currently held per address; only addresses with at least one
}

// NewConnLimiter returns a limiter allowing at most total concurrent
// connections and at most perIP concurrent connections from a single remote
// IP address. A value of 0 (or less) means unlimited.
//
// IPv4 addresses are compared exactly, after unmapping IPv4-mapped IPv6
// addresses and dropping any zone; IPv6 addresses count by their /64
// (DefaultIPv6Prefix), like the login throttle, unless WithIPv6Prefix says
// otherwise.
func NewConnLimiter(total, perIP int) *ConnLimiter {
	return &ConnLimiter{
		total:      max(total, 0),
		perIP:      max(perIP, 0),
		ipv6Prefix: DefaultIPv6Prefix,
		byIP:       make(map[netip.Addr]int),
	}
}

// WithIPv6Prefix sets the prefix length by which IPv6 clients are counted
// (1 to 128; 128 counts each address alone) and returns l. Call it before
// l is used.
func (l *ConnLimiter) WithIPv6Prefix(bits int) *ConnLimiter {
	if bits > 0 {
		l.ipv6Prefix = min(bits, 128)
	}
	return l
}

// clientKey is the counter key of ip: the address for IPv4, its prefix for
// IPv6.
func (l *ConnLimiter) clientKey(ip netip.Addr) netip.Addr {
	ip = normalizeAddr(ip)
	if ip.IsValid() && ip.Is6() && l.ipv6Prefix < 128 {
		if p, err := ip.Prefix(l.ipv6Prefix); err == nil {
			return p.Addr()
		}
	}
	return ip
}

// Acquire takes a connection slot for a connection from ip. If the connection
// is within the limits it returns ok == true and a release function that
// gives the slot back; release is idempotent and safe to call from any
// goroutine. If a limit is reached it returns ok == false and a no-op
// release.
//
// An invalid ip (the zero netip.Addr, e.g. for a Unix socket peer) only
// counts against the total limit.
func (l *ConnLimiter) Acquire(ip netip.Addr) (release func(), ok bool) {
	ip = l.clientKey(ip)
	perIP := l.perIP > 0 && ip.IsValid()

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total > 0 && l.active >= l.total {
		return func() {}, false
	}
	if perIP && l.byIP[ip] >= l.perIP {
		return func() {}, false
	}
	l.active++
	if perIP {
		l.byIP[ip]++
	}
	var once sync.Once
	return func() {
		once.Do(func() { l.release(ip, perIP) })
	}, true
}

// Active returns the number of connections currently held.
func (l *ConnLimiter) Active() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.active
}

func (l *ConnLimiter) release(ip netip.Addr, perIP bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active--
	if perIP {
		if n := l.byIP[ip] - 1; n > 0 {
			l.byIP[ip] = n
		} else {
			delete(l.byIP, ip)
		}
	}
}

// Listener wraps ln so that Accept only returns connections within the
// limits of l. The returned connections give their slot back when closed
// (Close may be called more than once).
//
// A connection over the limit is handed to reject, if not nil, in its own
// goroutine with a 5 second read and write deadline, so that it can be sent
// a protocol-specific refusal (e.g. "421 4.7.0 too many connections\r\n");
// it is closed afterwards. Accept never waits for reject. When too many
// refusals are already in flight, further refused connections are closed
// without calling reject.
//
// Errors from ln.Accept are returned unchanged so that callers can keep
// checking them with errors.Is(err, net.ErrClosed) and the like.
func (l *ConnLimiter) Listener(ln net.Listener, reject func(net.Conn)) net.Listener {
	return &limitListener{
		Listener: ln,
		limiter:  l,
		reject:   reject,
		pending:  make(chan struct{}, maxPendingRejects),
	}
}

type limitListener struct {
	net.Listener
	limiter *ConnLimiter
	reject  func(net.Conn)
	pending chan struct{} // semaphore for refusals in flight
}

// Accept waits for and returns the next connection within the limits.
func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		release, ok := ll.limiter.Acquire(addrIP(c.RemoteAddr()))
		if ok {
			return &limitedConn{Conn: c, release: release}, nil
		}
		ll.refuse(c)
	}
}

// refuse sends c its refusal and closes it without blocking the caller.
func (ll *limitListener) refuse(c net.Conn) {
	if ll.reject == nil {
		_ = c.Close()
		return
	}
	select {
	case ll.pending <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	go func() {
		defer func() { <-ll.pending }()
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(rejectTimeout))
		ll.reject(c)
	}()
}

// limitedConn is a connection holding a ConnLimiter slot until closed.
type limitedConn struct {
	net.Conn
	release func()
}

// ReadFrom hands io.Copy to the connection on to the connection's own
// ReadFrom, so that wrapping does not cost what it offers: a TCP
// connection sends a file with sendfile(2).
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

// Close closes the connection and releases its slot.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// NetConn returns the wrapped connection, like tls.Conn.NetConn does.
func (c *limitedConn) NetConn() net.Conn {
	return c.Conn
}

// AddrIP returns the IP address of a remote address, or the zero Addr if
// there is none (e.g. for Unix sockets): the key the limiters use.
func AddrIP(a net.Addr) netip.Addr { return addrIP(a) }

// addrIP extracts the IP address of a remote address, or returns the zero
// Addr if there is none (e.g. for Unix sockets).
func addrIP(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case nil:
		return netip.Addr{}
	case *net.TCPAddr:
		return a.AddrPort().Addr()
	case *net.UDPAddr:
		return a.AddrPort().Addr()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr()
	}
	return netip.Addr{}
}

// normalizeAddr maps equivalent representations of an address to one key.
func normalizeAddr(ip netip.Addr) netip.Addr {
	return ip.Unmap().WithZone("")
}
