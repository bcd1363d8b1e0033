package spam

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
)

// Resolver looks up host names; *net.Resolver implements it.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// dnsblQuery returns the name to look up for ip in zone ("4.3.2.1.zone" for
// 1.2.3.4), "" if ip is not an IPv4 address worth checking.
func dnsblQuery(ip netip.Addr, zone string) string {
	ip = ip.Unmap()
	zone = strings.Trim(strings.TrimSpace(zone), ".")
	if !ip.Is4() || zone == "" || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
		return ""
	}
	b := ip.As4()
	return fmt.Sprintf("%d.%d.%d.%d.%s", b[3], b[2], b[1], b[0], zone)
}

// listed reports whether a DNSBL answer lists the address: only answers in
// 127.0.0.0/24 count (others are errors or policy codes of the list).
func listed(addrs []string) (string, bool) {
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			continue
		}
		if b := ip.Unmap().As16(); ip.Unmap().Is4() && b[12] == 127 && b[13] == 0 && b[14] == 0 {
			return ip.Unmap().String(), true
		}
	}
	return "", false
}

// checkDNSBLs looks ip up in every zone at once and returns a hit per
// listing. Lookup failures (including "not found") count as not listed.
func checkDNSBLs(ctx context.Context, r Resolver, ip netip.Addr, zones []string) []Hit {
	if r == nil || len(zones) == 0 {
		return nil
	}
	hits := make([]*Hit, len(zones))
	var wg sync.WaitGroup
	for i, zone := range zones {
		q := dnsblQuery(ip, zone)
		if q == "" {
			continue
		}
		wg.Go(func() {
			addrs, err := r.LookupHost(ctx, q)
			if err != nil {
				return
			}
			if code, ok := listed(addrs); ok {
				hits[i] = &Hit{RuleDNSBL, scoreDNSBL, fmt.Sprintf("%s listed in %s (%s)", ip.Unmap(), strings.Trim(zone, ". "), code)}
			}
		})
	}
	wg.Wait()
	var out []Hit
	for _, h := range hits {
		if h != nil {
			out = append(out, *h)
		}
	}
	return out
}
