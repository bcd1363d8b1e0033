package outbound

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/yubinmail/yubin/filters/dnsresolve"
)

// target is one address to try a delivery at.
type target struct {
	name  string // host name: MX target, smarthost or the domain itself
	addr  string // "ip:port" (or "host:port" for the smarthost)
	tls   string // TLSStartTLS, TLSImplicit, TLSNone, or "" for opportunistic
	smart bool   // the smarthost: authenticate if configured
	// stsEnforce requires STARTTLS and a certificate valid for name (the
	// domain's MTA-STS policy enforces); stsTesting logs what enforce
	// would have refused.
	stsEnforce, stsTesting bool
}

// Failures of routing.
var (
	errNullMX = failure{permanent: true, code: 556, status: "5.1.10",
		text: "556 5.1.10 domain does not accept mail (null MX, RFC 7505)"}
	errNoDomain = failure{permanent: true, code: 550, status: "5.1.2",
		text: "550 5.1.2 domain not found"}
	errNoHost = failure{permanent: true, code: 550, status: "5.4.4",
		text: "550 5.4.4 no address for any mail exchanger of the domain"}
)

// route returns where mail for domain goes, in the order to try: the
// smarthost, or the addresses of the domain's MX hosts by preference
// (RFC 5321 §5.1), or the domain's own addresses when it has no MX. A
// failure is returned when there is nowhere to go.
func (w *Worker) route(ctx context.Context, domain string) ([]target, error) {
	if w.opts.Smarthost != "" {
		return []target{w.smarthost()}, nil
	}
	if lit, ok := strings.CutPrefix(domain, "["); ok { // address literal
		lit = strings.TrimSuffix(lit, "]")
		lit = strings.TrimPrefix(strings.TrimPrefix(lit, "IPv6:"), "ipv6:")
		ip, err := netip.ParseAddr(lit)
		if err != nil {
			return nil, errNoDomain
		}
		return []target{{name: ip.String(), addr: w.hostPort(ip.String())}}, nil
	}
	res := w.opts.Resolver
	mxs, err := res.LookupMX(ctx, domain)
	switch {
	case err == nil && len(mxs) > 0:
	case err == nil || dnsresolve.IsNotFound(err):
		// No MX: the domain itself is the implicit MX (RFC 5321 §5.1).
		ips, err := res.LookupIPAddr(ctx, domain)
		if err != nil {
			if dnsresolve.IsNotFound(err) {
				return nil, errNoDomain
			}
			return nil, tempFailure(fmt.Sprintf("451 4.4.3 DNS lookup of %s failed: %v", domain, err))
		}
		return w.targets(domain, ips, nil), nil
	default:
		return nil, tempFailure(fmt.Sprintf("451 4.4.3 MX lookup of %s failed: %v", domain, err))
	}
	// LookupMX sorts by preference; records of equal preference come in
	// the random order RFC 5321 §5.1 asks for.
	var (
		out       []target
		tempErr   error
		realHosts int
	)
	for _, mx := range mxs {
		host := strings.TrimSuffix(mx.Host, ".")
		if host == "" {
			continue // a null MX; any other record wins (RFC 7505 §3)
		}
		realHosts++
		if len(out) >= maxHosts {
			break
		}
		ips, err := res.LookupIPAddr(ctx, host)
		if err != nil {
			if !dnsresolve.IsNotFound(err) {
				tempErr = err
			}
			w.log.Debug("no address for MX host", "domain", domain, "mx", host, "err", err)
			continue
		}
		out = w.targets(host, ips, out)
	}
	switch {
	case realHosts == 0:
		return nil, errNullMX
	case len(out) > 0:
		return out, nil
	case tempErr != nil:
		return nil, tempFailure(fmt.Sprintf("451 4.4.3 address lookup of the MX hosts of %s failed: %v", domain, tempErr))
	}
	return nil, errNoHost
}

// targets appends the addresses of host to out, at most maxHosts in all.
func (w *Worker) targets(host string, ips []net.IPAddr, out []target) []target {
	for _, ip := range ips {
		if len(out) >= maxHosts {
			break
		}
		out = append(out, target{name: host, addr: w.hostPort(ip.String())})
	}
	return out
}

func (w *Worker) hostPort(ip string) string {
	return net.JoinHostPort(ip, strconv.Itoa(w.opts.Port))
}

// smarthost returns the target of the configured smarthost.
func (w *Worker) smarthost() target {
	addr := w.opts.Smarthost
	host, _, err := net.SplitHostPort(addr)
	if err != nil { // no port
		host = strings.Trim(addr, "[]")
		port := "25"
		if w.opts.SmarthostTLS == TLSImplicit {
			port = "465"
		}
		addr = net.JoinHostPort(host, port)
	}
	return target{name: host, addr: addr, tls: w.opts.SmarthostTLS, smart: true}
}
