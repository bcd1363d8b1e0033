package core

import (
	"context"
	"net/netip"
)

// remoteAddrKey is the context key of a request's remote address.
type remoteAddrKey struct{}

// WithRemoteAddr returns ctx carrying the IP address a request (a login)
// comes from, for whoever records it further down (the mailstore records
// an app password's last use with it).
func WithRemoteAddr(ctx context.Context, ip netip.Addr) context.Context {
	return context.WithValue(ctx, remoteAddrKey{}, ip)
}

// RemoteAddr returns the IP address WithRemoteAddr put in ctx, if any.
func RemoteAddr(ctx context.Context) (netip.Addr, bool) {
	ip, ok := ctx.Value(remoteAddrKey{}).(netip.Addr)
	return ip, ok && ip.IsValid()
}
