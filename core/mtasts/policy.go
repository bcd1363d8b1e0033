// Package mtasts implements SMTP MTA Strict Transport Security (MTA-STS,
// RFC 8461): the policy format a domain publishes at
// https://mta-sts.DOMAIN/.well-known/mta-sts.txt with its "_mta-sts" TXT
// record, and a Client that discovers, fetches and caches the policies of
// the domains outbound mail goes to, telling the delivery which MX hosts
// it may use and whether TLS with a valid certificate is required.
package mtasts

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Policy modes (RFC 8461 §5).
const (
	ModeEnforce = "enforce"
	ModeTesting = "testing"
	ModeNone    = "none"
)

// WellKnownPath is where a policy is served on the policy host.
const WellKnownPath = "/.well-known/mta-sts.txt"

// MaxMaxAge is the largest max_age a policy may give (RFC 8461 §3.2: 31557600
// seconds, about a year).
const MaxMaxAge = 31557600 * time.Second

// maxPolicySize bounds a fetched policy (RFC 8461 §3.3 suggests 64 KiB).
const maxPolicySize = 64 << 10

// Policy is an MTA-STS policy.
type Policy struct {
	// Mode is ModeEnforce, ModeTesting or ModeNone.
	Mode string
	// MX are the patterns of the MX hosts allowed: a host name or
	// "*.domain" (one leftmost label).
	MX []string
	// MaxAge is how long the policy may be cached.
	MaxAge time.Duration
}

// Parse parses a policy (RFC 8461 §3.2): "key: value" lines ending in CRLF
// or LF, starting with "version: STSv1"; unknown keys are ignored.
func Parse(text []byte) (*Policy, error) {
	if len(text) > maxPolicySize {
		return nil, fmt.Errorf("mtasts: policy of %d bytes, more than %d", len(text), maxPolicySize)
	}
	p := &Policy{}
	var version, mode, maxAge bool
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("mtasts: line %d: no \"key: value\"", i+1)
		}
		key = strings.TrimSpace(key)
		value = strings.TrimSpace(value)
		if i == 0 && key != "version" {
			return nil, errors.New("mtasts: the policy does not start with its version")
		}
		switch key {
		case "version":
			if version || value != "STSv1" {
				return nil, fmt.Errorf("mtasts: version %q: want one STSv1", value)
			}
			version = true
		case "mode":
			if mode {
				return nil, errors.New("mtasts: mode given twice")
			}
			switch value {
			case ModeEnforce, ModeTesting, ModeNone:
			default:
				return nil, fmt.Errorf("mtasts: mode %q: want enforce, testing or none", value)
			}
			p.Mode, mode = value, true
		case "max_age":
			if maxAge {
				return nil, errors.New("mtasts: max_age given twice")
			}
			if value == "" || len(value) > 10 || strings.Trim(value, "0123456789") != "" {
				return nil, fmt.Errorf("mtasts: max_age %q: want at most 10 digits", value)
			}
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || time.Duration(n)*time.Second > MaxMaxAge {
				return nil, fmt.Errorf("mtasts: max_age %q: want 0 to %d", value, int64(MaxMaxAge/time.Second))
			}
			p.MaxAge, maxAge = time.Duration(n)*time.Second, true
		case "mx":
			pat := strings.ToLower(strings.TrimSuffix(value, "."))
			if !validPattern(pat) {
				return nil, fmt.Errorf("mtasts: mx %q: not a host name or *.domain", value)
			}
			p.MX = append(p.MX, pat)
		}
	}
	switch {
	case !version:
		return nil, errors.New("mtasts: no version")
	case !mode:
		return nil, errors.New("mtasts: no mode")
	case !maxAge:
		return nil, errors.New("mtasts: no max_age")
	case p.Mode != ModeNone && len(p.MX) == 0:
		return nil, errors.New("mtasts: no mx in an enforce or testing policy")
	}
	return p, nil
}

// validPattern reports whether pat is a host name or "*." and one.
func validPattern(pat string) bool {
	pat = strings.TrimPrefix(pat, "*.")
	if pat == "" || len(pat) > 253 {
		return false
	}
	for _, label := range strings.Split(pat, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Matches reports whether the MX host may be used under p (RFC 8461
// §4.1): it equals a pattern, or a "*.domain" pattern with exactly one
// label in place of the "*".
func (p *Policy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			label, parent, found := strings.Cut(host, ".")
			if found && label != "" && parent == rest {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}

// String returns p in the policy format, with CRLF line endings.
func (p *Policy) String() string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\nmode: " + p.Mode + "\r\n")
	for _, mx := range p.MX {
		b.WriteString("mx: " + mx + "\r\n")
	}
	b.WriteString("max_age: " + strconv.FormatInt(int64(p.MaxAge/time.Second), 10) + "\r\n")
	return b.String()
}

// ID returns an id for the "_mta-sts" TXT record of p: it changes
// whenever the policy's text does (RFC 8461 §3.1: 1 to 32 letters and
// digits).
func (p *Policy) ID() string {
	sum := sha256.Sum256([]byte(p.String()))
	return hex.EncodeToString(sum[:10])
}

// Record returns the "_mta-sts" TXT record announcing p.
func (p *Policy) Record() string { return "v=STSv1; id=" + p.ID() + ";" }

// ParseRecord parses an "_mta-sts" TXT record (RFC 8461 §3.1) and returns
// its id. Records not starting with "v=STSv1" are not ours: ok is false.
func ParseRecord(txt string) (id string, ok bool, err error) {
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=STSv1" {
		return "", false, nil
	}
	for _, f := range fields[1:] {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, v, found := strings.Cut(f, "=")
		if !found {
			return "", true, fmt.Errorf("mtasts: TXT record field %q: no \"=\"", f)
		}
		if strings.TrimSpace(k) != "id" {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" || len(v) > 32 || strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			return "", true, fmt.Errorf("mtasts: TXT record id %q: want 1 to 32 letters and digits", v)
		}
		if id != "" {
			return "", true, errors.New("mtasts: TXT record with two ids")
		}
		id = v
	}
	if id == "" {
		return "", true, errors.New("mtasts: TXT record without id")
	}
	return id, true, nil
}
