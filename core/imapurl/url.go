// Package imapurl parses the IMAP URLs (RFC 5092) that name a message or a
// part of one, and signs and checks their URLAUTH authorization (RFC 4467).
//
// It does no I/O: the IMAP server (CATENATE, GENURLAUTH, URLFETCH) and the
// submission server (BURL, RFC 4468) resolve URLs against the mailstore
// and use this package to understand and check them, so that both accept
// and refuse exactly the same URLs.
package imapurl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxLength bounds the text of a URL.
const MaxLength = 8 << 10

// ErrSyntax is wrapped by every error of Parse.
var ErrSyntax = errors.New("invalid IMAP URL")

// URL is a parsed IMAP URL that names a message or a part of one:
//
//	imap://user;AUTH=*@host:port/mailbox;UIDVALIDITY=v/;UID=u/;SECTION=s/;PARTIAL=o.l;EXPIRE=t;URLAUTH=a:m:token
//
// or, relative to the server the client is talking to, the same from the
// "/" after the server part on.
type URL struct {
	// Absolute is set for the "imap://" form (and the "//" network-path
	// form); Host, Port, User and Auth are only set in it.
	Absolute bool
	Host     string
	Port     string
	// User is the owner the URL speaks for (iuserinfo), decoded.
	User string
	// Auth is the ";AUTH=" mechanism, "*" for any; "" if none.
	Auth string
	// Mailbox is the mailbox's name (UTF-8, decoded).
	Mailbox string
	// UIDValidity is 0 if the URL does not give it.
	UIDValidity uint32
	UID         uint32
	// Section is the part of the message; nil: the whole message.
	Section *Section
	// Partial is a byte range of the message or section; nil: all of it.
	Partial *Partial
	// Expire is the ";EXPIRE=" time of a URLAUTH URL; zero if none.
	Expire time.Time
	// Access is the URLAUTH access identifier ("submit+USER",
	// "user+USER", "authuser" or "anonymous"); "" for a URL without
	// URLAUTH. AccessUser is the USER of the first two, decoded.
	Access     string
	AccessUser string
	// Mechanism and Token are the verifier of a URLAUTH URL ("" in a
	// rump URL, which GENURLAUTH signs).
	Mechanism string
	Token     string

	raw     string // the URL as given
	rumpEnd int    // end of the rump in raw (after the access identifier); 0 if none
}

// Section is a section-spec (RFC 9051 §6.4.5) in a URL: a part path and a
// text specifier.
type Section struct {
	// Part is the part path ("1.2" is [1 2]); empty for the message.
	Part []int
	// Specifier is "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT",
	// "TEXT" or "MIME".
	Specifier string
	// Fields are the header field names of HEADER.FIELDS[.NOT].
	Fields []string
}

// Partial is a byte range: Length 0 means to the end.
type Partial struct {
	Offset, Length uint32
}

// String returns the URL as it was given.
func (u *URL) String() string { return u.raw }

// Rump returns the URL up to and including the URLAUTH access identifier
// (RFC 4467 §2): the text a URLAUTH token signs. It is "" without URLAUTH.
func (u *URL) Rump() string { return u.raw[:u.rumpEnd] }

// OnServer reports whether u names a server of hosts (compared without
// case): a relative URL always does, being relative to the server the
// client talks to.
func (u *URL) OnServer(hosts ...string) bool {
	if !u.Absolute {
		return true
	}
	for _, h := range hosts {
		if h != "" && strings.EqualFold(u.Host, h) {
			return true
		}
	}
	return false
}

// HasURLAuth reports whether the URL carries ";URLAUTH=" (signed or not).
func (u *URL) HasURLAuth() bool { return u.Access != "" }

func syntaxf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSyntax, fmt.Sprintf(format, args...))
}

// Parse parses an IMAP URL that names a message or a part of one, in its
// absolute ("imap://...") or absolute-path ("/mailbox;...") form.
// Parameter names are case-insensitive; percent-encoded octets are
// decoded and names must be valid UTF-8.
func Parse(s string) (*URL, error) {
	if len(s) > MaxLength {
		return nil, syntaxf("longer than %d bytes", MaxLength)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return nil, syntaxf("character %q not allowed (percent-encode it)", c)
		}
	}
	u := &URL{raw: s}
	rest := s
	switch {
	case hasPrefixFold(rest, "imap://"):
		rest = rest[len("imap://"):]
	case strings.HasPrefix(rest, "//"):
		rest = rest[2:]
	case strings.HasPrefix(rest, "/"):
	default:
		return nil, syntaxf(`neither "imap://..." nor "/mailbox..."`)
	}
	if len(rest) < len(s) {
		u.Absolute = true
		var err error
		if rest, err = u.parseServer(rest); err != nil {
			return nil, err
		}
	}
	if !strings.HasPrefix(rest, "/") || len(rest) == 1 {
		return nil, syntaxf("no mailbox")
	}
	rest = rest[1:]
	// The mailbox runs to the first ';' (not a bchar); a '/' before
	// ";UID=" separates it from the UID.
	end := strings.IndexByte(rest, ';')
	if end < 0 {
		return nil, syntaxf("no ;UID= (the URL must name a message)")
	}
	encMailbox := rest[:end]
	rest = rest[end:]
	if !hasPrefixFold(rest, ";UIDVALIDITY=") {
		encMailbox = strings.TrimSuffix(encMailbox, "/")
	}
	mb, err := decode(encMailbox, "mailbox")
	if err != nil {
		return nil, err
	}
	if mb == "" || !validChars(encMailbox, bchar) {
		return nil, syntaxf("invalid mailbox name")
	}
	u.Mailbox = mb
	if hasPrefixFold(rest, ";UIDVALIDITY=") {
		if u.UIDValidity, rest, err = nzNumber(rest[len(";UIDVALIDITY="):], "UIDVALIDITY"); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(rest, "/") {
			return nil, syntaxf("no /;UID= (the URL must name a message)")
		}
		rest = rest[1:]
	}
	if !hasPrefixFold(rest, ";UID=") {
		return nil, syntaxf("no ;UID= (the URL must name a message)")
	}
	if u.UID, rest, err = nzNumber(rest[len(";UID="):], "UID"); err != nil {
		return nil, err
	}
	if hasPrefixFold(rest, "/;SECTION=") {
		rest = rest[len("/;SECTION="):]
		end := strings.IndexByte(rest, ';')
		if end < 0 {
			end = len(rest)
		}
		enc := rest[:end]
		rest = rest[end:]
		if hasPrefixFold(rest, ";PARTIAL=") {
			if !strings.HasSuffix(enc, "/") {
				return nil, syntaxf("no / before ;PARTIAL=")
			}
			enc = enc[:len(enc)-1]
			rest = "/" + rest
		}
		if !validChars(enc, bchar) {
			return nil, syntaxf("invalid character in SECTION")
		}
		text, err := decode(enc, "SECTION")
		if err != nil {
			return nil, err
		}
		if u.Section, err = ParseSection(text); err != nil {
			return nil, err
		}
	}
	if hasPrefixFold(rest, "/;PARTIAL=") {
		if u.Partial, rest, err = parsePartial(rest[len("/;PARTIAL="):]); err != nil {
			return nil, err
		}
	}
	if rest == "" {
		return u, nil
	}
	return u, u.parseURLAuth(s, rest)
}

// parseServer parses the iserver of an absolute URL and returns what
// follows it.
func (u *URL) parseServer(rest string) (string, error) {
	end := strings.IndexByte(rest, '/')
	if end < 0 {
		end = len(rest)
	}
	server := rest[:end]
	rest = rest[end:]
	if at := strings.LastIndexByte(server, '@'); at >= 0 {
		userinfo := server[:at]
		server = server[at+1:]
		encUser := userinfo
		if i := indexFold(userinfo, ";AUTH="); i >= 0 {
			encUser = userinfo[:i]
			auth := userinfo[i+len(";AUTH="):]
			if auth != "*" && (auth == "" || !validChars(auth, achar)) {
				return "", syntaxf("invalid ;AUTH= type")
			}
			var err error
			if u.Auth, err = decode(auth, "AUTH type"); err != nil {
				return "", err
			}
		}
		if encUser == "" && u.Auth == "" || !validChars(encUser, achar) {
			return "", syntaxf("invalid user name")
		}
		var err error
		if u.User, err = decode(encUser, "user name"); err != nil {
			return "", err
		}
	}
	host := server
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return "", syntaxf("unterminated IP literal")
		}
		u.Host = host[:end+1]
		host = host[end+1:]
		if host != "" && host[0] != ':' {
			return "", syntaxf("invalid host")
		}
	} else {
		end := strings.IndexByte(host, ':')
		if end < 0 {
			end = len(host)
		}
		u.Host = host[:end]
		host = host[end:]
	}
	if strings.HasPrefix(host, ":") {
		u.Port = host[1:]
		if _, err := strconv.ParseUint(u.Port, 10, 16); err != nil && u.Port != "" {
			return "", syntaxf("invalid port")
		}
	}
	if u.Host == "" || !validChars(strings.Trim(u.Host, "[]"), hostChar) {
		return "", syntaxf("invalid host")
	}
	return rest, nil
}

// parseURLAuth parses [";EXPIRE=" date-time] ";URLAUTH=" access
// [":" mechanism ":" token], which must end the URL.
func (u *URL) parseURLAuth(s, rest string) error {
	if !u.Absolute || u.User == "" {
		return syntaxf("URLAUTH needs an absolute URL with a user")
	}
	if hasPrefixFold(rest, ";EXPIRE=") {
		rest = rest[len(";EXPIRE="):]
		end := strings.IndexByte(rest, ';')
		if end < 0 {
			return syntaxf("EXPIRE without URLAUTH")
		}
		t, err := time.Parse(time.RFC3339, rest[:end])
		if err != nil {
			return syntaxf("invalid EXPIRE date-time")
		}
		u.Expire = t
		rest = rest[end:]
	}
	if !hasPrefixFold(rest, ";URLAUTH=") {
		return syntaxf("unexpected %.20q", rest)
	}
	rest = rest[len(";URLAUTH="):]
	end := strings.IndexByte(rest, ':')
	if end < 0 {
		end = len(rest)
	}
	access := rest[:end]
	u.rumpEnd = len(s) - len(rest) + end
	rest = rest[end:]
	switch {
	case hasPrefixFold(access, "submit+"), hasPrefixFold(access, "user+"):
		plus := strings.IndexByte(access, '+')
		enc := access[plus+1:]
		if enc == "" || !validChars(enc, achar) {
			return syntaxf("invalid user in the URLAUTH access identifier")
		}
		user, err := decode(enc, "access user")
		if err != nil {
			return err
		}
		u.Access, u.AccessUser = strings.ToLower(access[:plus+1])+enc, user
	case strings.EqualFold(access, "authuser"), strings.EqualFold(access, "anonymous"):
		u.Access = strings.ToLower(access)
	default:
		return syntaxf("unknown URLAUTH access identifier")
	}
	if rest == "" {
		return nil
	}
	mech, token, ok := strings.Cut(rest[1:], ":")
	if !ok || mech == "" || !validChars(mech, mechChar) {
		return syntaxf("invalid URLAUTH mechanism")
	}
	if len(token) < 32 || !validChars(token, hexDigit) {
		return syntaxf("invalid URLAUTH token (32 or more hex digits)")
	}
	u.Mechanism, u.Token = strings.ToUpper(mech), token
	return nil
}

// ParseSection parses a section-spec: part numbers and a specifier,
// "1.2.MIME", "HEADER.FIELDS (To From)", "TEXT" and the like.
func ParseSection(s string) (*Section, error) {
	sec := &Section{}
	for s != "" && s[0] >= '0' && s[0] <= '9' {
		end := 0
		for end < len(s) && s[end] >= '0' && s[end] <= '9' {
			end++
		}
		n, err := strconv.ParseUint(s[:end], 10, 31)
		if err != nil || n == 0 {
			return nil, syntaxf("invalid part number in SECTION")
		}
		if len(sec.Part) >= 100 {
			return nil, syntaxf("SECTION too deep")
		}
		sec.Part = append(sec.Part, int(n))
		s = s[end:]
		if s == "" {
			return sec, nil
		}
		if s[0] != '.' || len(s) == 1 {
			return nil, syntaxf("invalid SECTION")
		}
		s = s[1:]
	}
	if s == "" {
		return sec, nil
	}
	name, list, hasList := strings.Cut(s, " ")
	name = strings.ToUpper(name)
	switch name {
	case "HEADER", "TEXT":
	case "MIME":
		if len(sec.Part) == 0 {
			return nil, syntaxf("MIME needs a part number")
		}
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		if !hasList || !strings.HasPrefix(list, "(") || !strings.HasSuffix(list, ")") {
			return nil, syntaxf("%s needs a list of field names", name)
		}
		for _, f := range strings.Fields(list[1 : len(list)-1]) {
			if !validChars(f, fieldChar) {
				return nil, syntaxf("invalid header field name in SECTION")
			}
			sec.Fields = append(sec.Fields, f)
		}
		if len(sec.Fields) == 0 {
			return nil, syntaxf("%s needs a list of field names", name)
		}
		hasList = false
	default:
		return nil, syntaxf("unknown SECTION %.20q", name)
	}
	if hasList {
		return nil, syntaxf("unexpected text after %s", name)
	}
	sec.Specifier = name
	return sec, nil
}

// parsePartial parses number ["." nz-number].
func parsePartial(s string) (*Partial, string, error) {
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	off, err := strconv.ParseUint(s[:end], 10, 32)
	if err != nil {
		return nil, "", syntaxf("invalid PARTIAL offset")
	}
	p := &Partial{Offset: uint32(off)}
	s = s[end:]
	if strings.HasPrefix(s, ".") {
		var n uint32
		if n, s, err = nzNumber(s[1:], "PARTIAL length"); err != nil {
			return nil, "", err
		}
		p.Length = n
	}
	return p, s, nil
}

// nzNumber reads a non-zero 32-bit number.
func nzNumber(s, what string) (uint32, string, error) {
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.ParseUint(s[:end], 10, 32)
	if err != nil || n == 0 || s[0] == '0' {
		return 0, "", syntaxf("invalid %s", what)
	}
	return uint32(n), s[end:], nil
}

// Character classes of RFC 5092 (before percent-decoding).
const (
	unreserved  = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
	subDelimsSh = "!$'()*+,"
	uchar       = unreserved + subDelimsSh + "%"
	achar       = uchar + "&="
	bchar       = achar + ":@/"
	hostChar    = unreserved + subDelimsSh + "&=;%:"
	mechChar    = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-."
	hexDigit    = "0123456789abcdefABCDEF"
	fieldChar   = "!\"#$&'*+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz|~"
)

func validChars(s, class string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(class, s[i]) < 0 {
			return false
		}
	}
	return true
}

// decode undoes percent-encoding; the result must be valid UTF-8.
func decode(s, what string) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !validChars(s[i+1:i+3], hexDigit) {
			return "", syntaxf("invalid percent-encoding in the %s", what)
		}
		v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if v == 0 {
			return "", syntaxf("NUL in the %s", what)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	if !utf8.ValidString(b.String()) {
		return "", syntaxf("the %s is not valid UTF-8", what)
	}
	return b.String(), nil
}

// Encode percent-encodes s for a URL component whose allowed characters
// are those of a mailbox name (bchar without "%").
func Encode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' && strings.IndexByte(bchar, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}
