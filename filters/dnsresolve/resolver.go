// Package dnsresolve is the DNS resolver shared by the filters (SPF, DKIM,
// DMARC, DNSBLs) and, later, the outbound queue.
//
// A Resolver wraps a pure-Go net.Resolver, optionally pointed at one server
// ("host:port") instead of the system's, with a per-lookup timeout and a
// small cache. The cache ignores DNS TTLs: answers are kept for a fixed time
// (CacheTTL, 60 s by default), "not found" answers (NXDOMAIN or no record of
// the type asked) for NegativeTTL (30 s), and temporary failures are never
// cached. It is bounded (CacheSize entries, least recently used out first).
//
// Errors are returned as the *net.DNSError the standard library produced,
// unwrapped, so that libraries which test errors with a type assertion (the
// SPF, DKIM and DMARC libraries do) classify them correctly. Use IsNotFound
// and IsTemporary to tell a definite "no such record" from a failure worth
// retrying.
//
// Names are looked up as fully qualified: a trailing dot is added, so the
// search domains of resolv.conf never apply.
package dnsresolve

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"
)

// Defaults for Options.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultCacheSize   = 4096
	DefaultCacheTTL    = 60 * time.Second
	DefaultNegativeTTL = 30 * time.Second
)

// Options configure a Resolver. The zero value uses the system's resolver
// configuration with the defaults above.
type Options struct {
	// Server is the DNS server to ask, "host:port" (e.g. "127.0.0.1:53"),
	// over UDP with TCP fallback for truncated answers. "" uses the
	// servers of the system (/etc/resolv.conf).
	Server string
	// Timeout bounds each lookup, on top of the caller's context.
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// CacheSize is the maximum number of cached answers. 0 means
	// DefaultCacheSize; a negative value disables the cache.
	CacheSize int
	// CacheTTL is how long answers are cached. 0 means DefaultCacheTTL.
	CacheTTL time.Duration
	// NegativeTTL is how long "not found" answers are cached. 0 means
	// DefaultNegativeTTL.
	NegativeTTL time.Duration
	// Logger receives debug logs of failed lookups. nil discards them.
	Logger *slog.Logger
}

// Resolver looks up DNS records, with a cache. It is safe for concurrent
// use. Its lookup methods have the signatures of net.Resolver's, so a
// *Resolver can be handed to libraries that take an interface of them.
type Resolver struct {
	r       *net.Resolver
	server  string // Options.Server
	timeout time.Duration
	cache   *cache // nil when disabled
	log     *slog.Logger
}

// New returns a Resolver configured by opts.
func New(opts Options) *Resolver {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = DefaultNegativeTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	nr := &net.Resolver{PreferGo: true}
	if opts.Server != "" {
		server, timeout := opts.Server, opts.Timeout
		nr.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: timeout}
			return d.DialContext(ctx, network, server)
		}
	}
	res := &Resolver{r: nr, server: opts.Server, timeout: opts.Timeout, log: opts.Logger}
	if opts.CacheSize > 0 {
		res.cache = newCache(opts.CacheSize, opts.CacheTTL, opts.NegativeTTL, time.Now)
	}
	return res
}

// IsNotFound reports whether err says that the name or the record does not
// exist (NXDOMAIN, or no record of the type asked): a definite answer.
func IsNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// IsTemporary reports whether err is a failure that may go away if the
// lookup is retried later (timeout, SERVFAIL, unreachable server, context
// deadline).
func IsTemporary(err error) bool {
	if err == nil || IsNotFound(err) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.IsTimeout || de.IsTemporary
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// fqdn returns name, lower-cased and with a trailing dot.
func fqdn(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// Record types, as cache key prefixes.
const (
	typeTXT  = "txt"
	typeMX   = "mx"
	typeIP   = "ip"
	typePTR  = "ptr"
	typeHost = "host"
)

// maxKeyOnStack is the longest cache key built without allocating: every
// domain name fits (253 characters and the dot).
const maxKeyOnStack = 272

// appendKey appends to b the cache key of the lookup of name for the
// record type typ: "typ name", name lower-cased (and with a trailing dot
// if dot), as it is asked. It is the key fqdn would give, built without
// allocating for ASCII names.
func appendKey(b []byte, typ, name string, dot bool) []byte {
	b = append(b, typ...)
	b = append(b, ' ')
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			// Rare: let strings.ToLower handle Unicode.
			if dot {
				return append(b, fqdn(name)...)
			}
			return append(b, strings.ToLower(name)...)
		}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	if dot && !strings.HasSuffix(name, ".") {
		b = append(b, '.')
	}
	return b
}

// lookup runs fn for the record type typ of name (fqdn when dot, else
// lower-cased) through the cache and with the timeout. The hit path does
// not allocate.
func lookup[T any](ctx context.Context, r *Resolver, typ, name string, dot bool, fn func(ctx context.Context, name string) (T, error)) (T, error) {
	var buf [maxKeyOnStack]byte
	key := appendKey(buf[:0], typ, name, dot)
	if r.cache != nil {
		if v, err, ok := r.cache.getBytes(key); ok {
			if err != nil {
				var zero T
				return zero, err
			}
			return v.(T), nil
		}
	}
	// The name as asked: the key without its type.
	name = string(key[len(typ)+1:])
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	v, err := fn(ctx, name)
	if err != nil {
		err = r.namingServer(err)
		r.log.Debug("dns lookup failed", "type", typ, "name", name, "error", err)
		if r.cache != nil && IsNotFound(err) {
			r.cache.put(string(key), nil, err)
		}
		return v, err
	}
	if r.cache != nil {
		r.cache.put(string(key), v, nil)
	}
	return v, nil
}

// namingServer returns err naming the server that was asked. With
// Options.Server set, the standard library's error names the system's
// server (from /etc/resolv.conf), whose address our dialer replaced: a
// *net.DNSError gets a copy naming Options.Server instead.
func (r *Resolver) namingServer(err error) error {
	var de *net.DNSError
	if r.server == "" || !errors.As(err, &de) || de.Server == r.server {
		return err
	}
	if de, ok := err.(*net.DNSError); ok {
		c := *de
		c.Server = r.server
		return &c
	}
	return err
}

// LookupTXT returns the TXT records of name, each record's strings
// concatenated.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, err := lookup(ctx, r, typeTXT, name, true, r.r.LookupTXT)
	return slices.Clone(v), err
}

// LookupMX returns the MX records of name, sorted by preference.
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	v, err := lookup(ctx, r, typeMX, name, true, r.r.LookupMX)
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, len(v))
	for i, mx := range v {
		c := *mx
		out[i] = &c
	}
	return out, nil
}

// LookupIPAddr returns the IPv4 and IPv6 addresses of host.
func (r *Resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	v, err := lookup(ctx, r, typeIP, host, true, r.r.LookupIPAddr)
	if err != nil {
		return nil, err
	}
	out := make([]net.IPAddr, len(v))
	for i, a := range v {
		out[i] = net.IPAddr{IP: slices.Clone(a.IP), Zone: a.Zone}
	}
	return out, nil
}

// LookupHost returns the addresses of host as strings.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	v, err := lookup(ctx, r, typeHost, host, true, r.r.LookupHost)
	return slices.Clone(v), err
}

// LookupAddr returns the names pointed to by the PTR records of the address
// addr (reverse lookup). The names end with a dot.
func (r *Resolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	v, err := lookup(ctx, r, typePTR, addr, false, r.r.LookupAddr)
	return slices.Clone(v), err
}
