package imapurl

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// Mechanism is the one URLAUTH mechanism offered: "INTERNAL" (RFC 4467
// §7), a token that is the HMAC-SHA256 of the rump URL under the owner's
// key for the mailbox, in hex.
const Mechanism = "INTERNAL"

// KeySize is the size of a URLAUTH key in bytes.
const KeySize = 32

// ErrBadURL is wrapped by the errors of URLs that do not resolve for a
// requester: syntax, another server, a mailbox or message that is not
// there or not theirs, a URLAUTH that does not verify. The text after it
// says why, for logs; clients only learn that the URL is bad.
var ErrBadURL = errors.New("bad IMAP URL")

// Errors of Authorize, each saying why a URLAUTH URL is refused.
var (
	ErrNoURLAuth   = errors.New("URL carries no URLAUTH")
	ErrNotSigned   = errors.New("URLAUTH URL has no verifier")
	ErrMechanism   = errors.New("unknown URLAUTH mechanism")
	ErrExpired     = errors.New("URLAUTH URL has expired")
	ErrAccess      = errors.New("URLAUTH access identifier does not allow this requester")
	ErrBadToken    = errors.New("URLAUTH token does not verify")
	ErrNotRumpForm = errors.New("URL is not a URLAUTH rump (absolute, with a user and ;URLAUTH=, without a verifier)")
)

// Requester is who wants a URLAUTH URL's content.
type Requester struct {
	// User is the authenticated user asking ("" for nobody).
	User string
	// Submit is set when the submission server asks on behalf of User
	// (BURL, RFC 4468); otherwise an IMAP session of User asks.
	Submit bool
}

// Sign returns the URL with its verifier: the rump, ":INTERNAL:" and the
// token under key. u must be a rump URL (see CheckRump).
func Sign(u *URL, key []byte) string {
	return u.Rump() + ":" + Mechanism + ":" + token(key, u.Rump())
}

// CheckRump reports whether u may be signed by GENURLAUTH: an absolute
// URL with the owner's user name and a URLAUTH access identifier, but no
// verifier yet.
func CheckRump(u *URL) error {
	if !u.Absolute || u.User == "" || u.Access == "" || u.Mechanism != "" {
		return ErrNotRumpForm
	}
	return nil
}

// Authorize checks a URLAUTH URL for r at now: that it is signed with the
// INTERNAL mechanism, has not expired, that its access identifier admits
// r, and that its token verifies under key (the owner's key for the
// mailbox the URL names). The owner is u.User.
func Authorize(u *URL, key []byte, r Requester, now time.Time) error {
	if u.Access == "" {
		return ErrNoURLAuth
	}
	if u.Mechanism == "" {
		return ErrNotSigned
	}
	if u.Mechanism != Mechanism {
		return ErrMechanism
	}
	if !u.Expire.IsZero() && !now.Before(u.Expire) {
		return ErrExpired
	}
	if err := admits(u, r); err != nil {
		return err
	}
	want := token(key, u.Rump())
	if !hmac.Equal([]byte(strings.ToLower(u.Token)), []byte(want)) {
		return ErrBadToken
	}
	return nil
}

// admits checks the access identifier against the requester (RFC 4467
// §3): "submit+USER" only for the submission server acting for USER,
// "user+USER" only for USER's IMAP session, "authuser" for any logged-in
// IMAP session, "anonymous" for anyone.
func admits(u *URL, r Requester) error {
	switch {
	case strings.HasPrefix(u.Access, "submit+"):
		if r.Submit && r.User != "" && strings.EqualFold(r.User, u.AccessUser) {
			return nil
		}
	case strings.HasPrefix(u.Access, "user+"):
		if !r.Submit && r.User != "" && strings.EqualFold(r.User, u.AccessUser) {
			return nil
		}
	case u.Access == "authuser":
		if !r.Submit && r.User != "" {
			return nil
		}
	case u.Access == "anonymous":
		return nil
	}
	return ErrAccess
}

// token is the INTERNAL mechanism's token: hex HMAC-SHA256(key, rump).
func token(key []byte, rump string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(rump))
	return hex.EncodeToString(m.Sum(nil))
}
