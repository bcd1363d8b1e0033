package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// StandardPorts are the well-known ports of each client-facing service
// (RFC 5321, 6409, 8314, 9051, 1939, 9110 and 5804), by listener name.
var StandardPorts = map[string]int{
	"smtp":        25,
	"submissions": 465,
	"submission":  587,
	"imap":        143,
	"imaps":       993,
	"pop3":        110,
	"pop3s":       995,
	"https":       443,
	"managesieve": 4190,
}

// PublicPorts says which ports mail clients are told to use: behind a
// port mapping (docker-compose, iptables) they differ from the ports Yubin
// listens on.
type PublicPorts struct {
	// Standard announces StandardPorts instead of the listening ports.
	Standard bool
	// Overrides replace the port of single services, by listener name.
	Overrides map[string]int
}

// ParsePublicPorts reads YUBIN_PUBLIC_PORTS: "bound" (or empty),
// "standard", or comma-separated name=port overrides, optionally after
// "bound" or "standard" ("standard,https=8443").
func ParsePublicPorts(v string) (PublicPorts, error) {
	var p PublicPorts
	names := slices.Sorted(maps.Keys(StandardPorts))
	for i, item := range strings.Split(v, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		switch {
		case item == "":
			continue
		case item == "bound" || item == "standard":
			if i != 0 {
				return PublicPorts{}, fmt.Errorf("%q: %s may only come first", v, item)
			}
			p.Standard = item == "standard"
			continue
		}
		name, port, ok := strings.Cut(item, "=")
		if !ok {
			return PublicPorts{}, fmt.Errorf("%q: want bound, standard or name=port,... (names: %s)", v, strings.Join(names, ", "))
		}
		name = strings.TrimSpace(name)
		if _, known := StandardPorts[name]; !known {
			return PublicPorts{}, fmt.Errorf("%q: unknown service %q (want one of %s)", v, name, strings.Join(names, ", "))
		}
		n, err := strconv.Atoi(strings.TrimSpace(port))
		if err != nil || n < 1 || n > 65535 {
			return PublicPorts{}, fmt.Errorf("%q: port of %s must be a number from 1 to 65535", v, name)
		}
		if _, dup := p.Overrides[name]; dup {
			return PublicPorts{}, fmt.Errorf("%q: %s named twice", v, name)
		}
		if p.Overrides == nil {
			p.Overrides = map[string]int{}
		}
		p.Overrides[name] = n
	}
	return p, nil
}

// Port returns the port to announce for the listener name that is bound
// to port bound; a listener that is off (bound 0) is never announced.
func (p PublicPorts) Port(name string, bound int) int {
	if bound == 0 {
		return 0
	}
	if n, ok := p.Overrides[name]; ok {
		return n
	}
	if p.Standard {
		if n, ok := StandardPorts[name]; ok {
			return n
		}
	}
	return bound
}

// String gives the setting back in the form ParsePublicPorts reads.
func (p PublicPorts) String() string {
	parts := []string{"bound"}
	if p.Standard {
		parts[0] = "standard"
	}
	for _, name := range slices.Sorted(maps.Keys(p.Overrides)) {
		parts = append(parts, name+"="+strconv.Itoa(p.Overrides[name]))
	}
	return strings.Join(parts, ",")
}
