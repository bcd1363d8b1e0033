// Package srs implements the Sender Rewriting Scheme (SRS, the scheme of
// Shevek's paper and libsrs2) for forwarded mail: the envelope sender
// alice@example.org of a message forwarded by example.com becomes
//
//	SRS0=HHHH=TT=example.org=alice@example.com
//
// where TT is the day of the rewriting (two base32 characters, days since
// the epoch modulo 1024) and HHHH a truncated HMAC-SHA1, under a secret of
// the forwarder, of the timestamp, domain and local part. A bounce to that
// address comes back to the forwarder, which checks the hash and the age
// (Reverse) and sends it on to alice@example.org; an address it did not
// make, or made too long ago, is refused, so the forwarder is no open
// relay. A sender that is already an SRS0 address of another forwarder
// becomes an SRS1 address (SRS1=HHHH=first.example==HHHH=TT=...), so that
// the bounce goes back through the first forwarder, without the address
// growing at each hop.
//
// Secrets can be rotated: the first one signs, all of them verify.
package srs

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 as SRS specifies; truncated, it is a MAC, not a collision-resistant hash
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// DefaultMaxAge is how long an SRS address is honoured after the day it
// was made (libsrs2's default is 21 days too).
const DefaultMaxAge = 21 * 24 * time.Hour

// hashLength is how many base64 characters of the HMAC an address keeps
// (libsrs2's default).
const hashLength = 4

// Separators and tags of the scheme.
const (
	tag0 = "SRS0"
	tag1 = "SRS1"
	sep  = "="
)

// base32 is the timestamp alphabet (RFC 4648 base32).
const base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// timePrecision is the unit of the timestamp; timeSlots its period.
const (
	timePrecision = 24 * time.Hour
	timeSlots     = 1024 // two base32 characters
)

// Errors of Reverse.
var (
	// ErrNotSRS says the address is not an SRS address.
	ErrNotSRS = errors.New("not an SRS address")
	// ErrForged says the address has the form of an SRS address but its
	// hash is not one of ours.
	ErrForged = errors.New("SRS address with a hash that does not verify")
	// ErrExpired says the address is older than the maximum age.
	ErrExpired = errors.New("SRS address expired")
	// ErrMalformed says the address is an SRS address with a bad syntax.
	ErrMalformed = errors.New("malformed SRS address")
)

// Rewriter rewrites and reverses addresses with a set of secrets.
type Rewriter struct {
	secrets [][]byte
	// MaxAge is how long an address is honoured; 0 means DefaultMaxAge.
	MaxAge time.Duration
}

// New returns a Rewriter that signs with secrets[0] and accepts any of
// them. There must be at least one, none empty.
func New(secrets ...[]byte) (*Rewriter, error) {
	if len(secrets) == 0 {
		return nil, errors.New("srs: no secret")
	}
	for i, s := range secrets {
		if len(s) == 0 {
			return nil, fmt.Errorf("srs: secret %d is empty", i+1)
		}
	}
	return &Rewriter{secrets: secrets}, nil
}

// LoadSecrets reads the secrets of a file, one per line, the newest first
// (blank lines and lines starting with "#" are skipped). A file that does
// not exist is created with a new random secret, readable by its owner
// only. To rotate, put a new line on top: addresses made with the older
// ones stay valid until they expire, and the old line can then go.
func LoadSecrets(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		secret := rand.Text() + rand.Text()
		f, cerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if cerr != nil {
			return nil, fmt.Errorf("srs: create secret file: %w", cerr)
		}
		_, werr := f.WriteString("# SRS secrets, newest first: the first signs, all verify.\n" + secret + "\n")
		if werr == nil {
			werr = f.Sync()
		}
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("srs: write secret file: %w", werr)
		}
		return [][]byte{[]byte(secret)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("srs: read secret file: %w", err)
	}
	var out [][]byte
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, []byte(line))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("srs: %s holds no secret", path)
	}
	return out, nil
}

// IsSRS reports whether the local part of an address looks like an SRS
// address (SRS0= or SRS1=, in any case).
func IsSRS(local string) bool {
	return len(local) > 5 && (strings.EqualFold(local[:5], tag0+sep) || strings.EqualFold(local[:5], tag1+sep))
}

// Forward returns the envelope sender to use when mail from sender is
// forwarded by domain: an SRS0 address, or an SRS1 address when sender is
// already an SRS address of another forwarder. The null sender stays
// null, and an address of domain itself is kept (its bounces come here
// anyway).
func (r *Rewriter) Forward(sender, domain string, now time.Time) (string, error) {
	if sender == "" {
		return "", nil
	}
	at := strings.LastIndexByte(sender, '@')
	if at <= 0 || at == len(sender)-1 {
		return "", fmt.Errorf("srs: sender %q has no domain", sender)
	}
	local, host := sender[:at], sender[at+1:]
	if strings.EqualFold(host, domain) {
		return sender, nil
	}
	switch {
	case len(local) > 4 && strings.EqualFold(local[:4], tag1) && isSep(local[4]):
		// SRS1=HHH=first==HHH=TT=d=l@host: only the first forwarder and
		// what it sent along stay; re-hashed with our secret.
		parts := strings.SplitN(local[5:], sep, 3)
		if len(parts) < 3 || parts[1] == "" {
			break
		}
		first, rest := parts[1], parts[2]
		return tag1 + sep + r.hash(r.secrets[0], first, rest) + sep + first + sep + rest + "@" + domain, nil
	case len(local) > 4 && strings.EqualFold(local[:4], tag0) && isSep(local[4]):
		// SRS0 of another forwarder: SRS1 pointing back to it. rest
		// keeps its separator ("=HHH=TT=d=l").
		rest := local[4:]
		return tag1 + sep + r.hash(r.secrets[0], host, rest) + sep + host + sep + rest + "@" + domain, nil
	}
	ts := timestamp(now)
	return tag0 + sep + r.hash(r.secrets[0], ts, host, local) + sep + ts + sep + host + sep + local + "@" + domain, nil
}

// isSep reports whether c is a separator libsrs2 accepts after the tag.
func isSep(c byte) bool { return c == '=' || c == '+' || c == '-' }

// Reverse returns the address an SRS address (its local part given; the
// domain is ours) stands for: the original sender of an SRS0 address, the
// first forwarder's SRS0 address of an SRS1 address. It returns ErrNotSRS,
// ErrMalformed, ErrForged or ErrExpired (wrapped) for anything it did not
// make in the last MaxAge.
func (r *Rewriter) Reverse(local string, now time.Time) (string, error) {
	if len(local) < 5 || !isSep(local[4]) {
		return "", ErrNotSRS
	}
	switch strings.ToUpper(local[:4]) {
	case tag0:
		parts := strings.SplitN(local[5:], sep, 4)
		if len(parts) < 4 || parts[0] == "" || len(parts[1]) != 2 || parts[2] == "" || parts[3] == "" {
			return "", fmt.Errorf("%w: %q", ErrMalformed, local)
		}
		h, ts, host, user := parts[0], parts[1], parts[2], parts[3]
		if !r.verify(h, ts, host, user) {
			return "", fmt.Errorf("%w: %q", ErrForged, local)
		}
		if err := r.checkAge(ts, now); err != nil {
			return "", fmt.Errorf("%w: %q", err, local)
		}
		return user + "@" + host, nil
	case tag1:
		parts := strings.SplitN(local[5:], sep, 3)
		if len(parts) < 3 || parts[0] == "" || parts[1] == "" || len(parts[2]) < 2 {
			return "", fmt.Errorf("%w: %q", ErrMalformed, local)
		}
		h, host, rest := parts[0], parts[1], parts[2]
		if !r.verify(h, host, rest) {
			return "", fmt.Errorf("%w: %q", ErrForged, local)
		}
		return tag0 + rest + "@" + host, nil
	}
	return "", ErrNotSRS
}

// hash is the truncated base64 HMAC-SHA1 of the lower-cased parts under
// secret.
func (r *Rewriter) hash(secret []byte, parts ...string) string {
	m := hmac.New(sha1.New, secret)
	for _, p := range parts {
		m.Write([]byte(strings.ToLower(p)))
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))[:hashLength]
}

// verify reports whether h is the hash of parts under one of the secrets,
// in any case (the address may have been case-folded on the way).
func (r *Rewriter) verify(h string, parts ...string) bool {
	if len(h) != hashLength {
		return false
	}
	for _, s := range r.secrets {
		if hmac.Equal([]byte(strings.ToLower(h)), []byte(strings.ToLower(r.hash(s, parts...)))) {
			return true
		}
	}
	return false
}

// timestamp encodes the day of now in two base32 characters.
func timestamp(now time.Time) string {
	d := int(now.Unix()/int64(timePrecision/time.Second)) % timeSlots
	return string([]byte{base32[d>>5], base32[d&31]})
}

// checkAge returns ErrExpired if the timestamp ts is older than MaxAge (or
// in the future beyond a day of clock skew), ErrMalformed if it is not one.
func (r *Rewriter) checkAge(ts string, now time.Time) error {
	var v int
	for _, c := range strings.ToUpper(ts) {
		i := strings.IndexRune(base32, c)
		if i < 0 {
			return ErrMalformed
		}
		v = v<<5 | i
	}
	today := int(now.Unix() / int64(timePrecision/time.Second))
	age := (today - v) % timeSlots
	if age < 0 {
		age += timeSlots
	}
	maxAge := r.MaxAge
	if maxAge == 0 {
		maxAge = DefaultMaxAge
	}
	if age == timeSlots-1 {
		return nil // made "tomorrow": a clock a little ahead
	}
	if time.Duration(age)*timePrecision > maxAge {
		return ErrExpired
	}
	return nil
}
