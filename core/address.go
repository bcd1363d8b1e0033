package core

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits on address parts from RFC 5321 §4.5.3.1.
const (
	maxLocalPartLen = 64
	maxDomainLen    = 253
	maxLabelLen     = 63
)

// Address is a normalised mail address: the local part as given but in lower
// case, and the domain in lower-case ASCII (IDNA A-labels).
type Address struct {
	Local  string
	Domain string
}

// String returns local@domain.
func (a Address) String() string { return a.Local + "@" + a.Domain }

// ParseAddress parses and normalises a bare address such as "Ann@Example.COM".
// It accepts SMTPUTF8 (UTF-8) local parts and internationalised domains, and
// rejects anything that is not a valid RFC 5321 mailbox.
func ParseAddress(s string) (Address, error) {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return Address{}, fmt.Errorf("address %q: want local@domain: %w", s, ErrInvalid)
	}
	local, domain := s[:at], s[at+1:]
	if err := checkLocalPart(local); err != nil {
		return Address{}, fmt.Errorf("address %q: %w", s, err)
	}
	d, err := NormalizeDomain(domain)
	if err != nil {
		return Address{}, fmt.Errorf("address %q: %w", s, err)
	}
	return Address{Local: strings.ToLower(local), Domain: d}, nil
}

// NormalizeAddress returns the canonical string form of an address.
func NormalizeAddress(s string) (string, error) {
	a, err := ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

func checkLocalPart(local string) error {
	if len(local) > maxLocalPartLen {
		return fmt.Errorf("local part longer than %d octets: %w", maxLocalPartLen, ErrInvalid)
	}
	if !utf8.ValidString(local) {
		return fmt.Errorf("local part is not valid UTF-8: %w", ErrInvalid)
	}
	if strings.HasPrefix(local, `"`) {
		return checkQuotedLocal(local)
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return fmt.Errorf("local part has a misplaced dot: %w", ErrInvalid)
	}
	for _, r := range local {
		if r >= 0x80 {
			continue // SMTPUTF8 (RFC 6531)
		}
		if !isAtext(byte(r)) && r != '.' {
			return fmt.Errorf("local part has character %q: %w", r, ErrInvalid)
		}
	}
	return nil
}

func checkQuotedLocal(local string) error {
	if len(local) < 2 || !strings.HasSuffix(local, `"`) {
		return fmt.Errorf("unterminated quoted local part: %w", ErrInvalid)
	}
	inner := local[1 : len(local)-1]
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		switch {
		case c == '\\':
			i++
			if i == len(inner) {
				return fmt.Errorf("dangling escape in local part: %w", ErrInvalid)
			}
		case c == '"' || c < 0x20 || c == 0x7f:
			return fmt.Errorf("bad character in quoted local part: %w", ErrInvalid)
		}
	}
	return nil
}

// isAtext reports whether c is an RFC 5322 atext character.
func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

var domainProfile = idna.New(idna.MapForLookup(), idna.StrictDomainName(true), idna.Transitional(false))

// NormalizeDomain validates a domain name and returns it in lower-case ASCII
// form (internationalised names become A-labels). Address literals such as
// [192.0.2.1] are not accepted as mail domains here.
func NormalizeDomain(domain string) (string, error) {
	domain = strings.TrimSuffix(domain, ".")
	if domain == "" {
		return "", fmt.Errorf("empty domain: %w", ErrInvalid)
	}
	if strings.HasPrefix(domain, "[") {
		return "", fmt.Errorf("domain %q: address literals are not accepted: %w", domain, ErrInvalid)
	}
	ascii, err := domainProfile.ToASCII(domain)
	if err != nil {
		return "", fmt.Errorf("domain %q: %v: %w", domain, err, ErrInvalid)
	}
	ascii = strings.ToLower(ascii)
	if len(ascii) > maxDomainLen {
		return "", fmt.Errorf("domain %q longer than %d octets: %w", domain, maxDomainLen, ErrInvalid)
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("domain %q: need at least two labels: %w", domain, ErrInvalid)
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
			return "", fmt.Errorf("domain %q: bad label %q: %w", domain, l, ErrInvalid)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("domain %q: bad character %q: %w", domain, c, ErrInvalid)
			}
		}
	}
	return ascii, nil
}
