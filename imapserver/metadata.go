package imapserver

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// Bounds of METADATA (RFC 5464).
const (
	maxMetadataValue   = 64 << 10 // octets of one value (MAXSIZE)
	maxMetadataEntries = 100      // entries of one mailbox, or of the server
	maxMetadataName    = 1024     // octets of an entry name
)

// metadataName validates an entry name and returns it in lower case
// (entry names are case-insensitive, RFC 5464 §3.2): "/private/..." or
// "/shared/...", of printable ASCII without "*" and "%", no empty
// component.
func metadataName(s string) (string, error) {
	if len(s) > maxMetadataName {
		return "", badf("Entry name too long")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '*' || c == '%' {
			return "", badf("Invalid character in entry name %q", strings.ToValidUTF8(s, "?"))
		}
	}
	l := strings.ToLower(s)
	if !strings.HasPrefix(l, "/private/") && !strings.HasPrefix(l, "/shared/") ||
		strings.HasSuffix(l, "/") || strings.Contains(l, "//") {
		return "", badf("Invalid entry name %q (/private/... or /shared/...)", strings.ToValidUTF8(s, "?"))
	}
	return l, nil
}

// metadataMailbox reads the mailbox of GETMETADATA/SETMETADATA: "" is the
// server (id 0).
func (s *session) metadataMailbox() (id int64, raw string, err error) {
	raw, err = s.r.astring("a mailbox name")
	if err != nil || raw == "" {
		return 0, raw, err
	}
	name, err := s.decodeName(raw, false)
	if err != nil {
		return 0, raw, err
	}
	mb, err := s.acct.GetMailbox(s.ctx, name)
	if err != nil {
		return 0, raw, s.storeErr("metadata", err, "NONEXISTENT")
	}
	return mb.ID, name, nil
}

// cmdGetMetadata runs GETMETADATA [(MAXSIZE n DEPTH d)] mailbox entries.
func (s *session) cmdGetMetadata(c *command) error {
	if err := s.r.sp(); err != nil {
		return err
	}
	maxSize, depth := int64(-1), "0"
	if s.r.accept('(') {
		for first := true; !s.r.accept(')'); first = false {
			if !first {
				if err := s.r.sp(); err != nil {
					return err
				}
			}
			opt, err := s.r.atom("a GETMETADATA option")
			if err != nil {
				return err
			}
			if err := s.r.sp(); err != nil {
				return err
			}
			switch strings.ToUpper(opt) {
			case "MAXSIZE":
				n, err := s.r.number("a size")
				if err != nil {
					return err
				}
				maxSize = int64(n)
			case "DEPTH":
				d, err := s.r.atom("0, 1 or infinity")
				if err != nil {
					return err
				}
				if depth = strings.ToLower(d); depth != "0" && depth != "1" && depth != "infinity" {
					return badf("DEPTH is 0, 1 or infinity")
				}
			default:
				return badf("Unknown GETMETADATA option %s", strings.ToValidUTF8(opt, "?"))
			}
		}
		if err := s.r.sp(); err != nil {
			return err
		}
	}
	id, mailbox, err := s.metadataMailbox()
	if err != nil {
		return err
	}
	if err := s.r.sp(); err != nil {
		return err
	}
	var names []string
	list := s.r.accept('(')
	for {
		e, err := s.r.astring("an entry name")
		if err != nil {
			return err
		}
		if e, err = metadataName(e); err != nil {
			return err
		}
		if len(names) >= maxMetadataEntries {
			return badf("Too many entries")
		}
		names = append(names, e)
		if !list || s.r.accept(')') {
			break
		}
		if err := s.r.sp(); err != nil {
			return err
		}
	}
	if err := s.r.end(); err != nil {
		return err
	}
	entries, err := s.acct.GetMetadata(s.ctx, id)
	if err != nil {
		return s.storeErr("metadata", err, "NONEXISTENT")
	}
	var out []mailstore.MetadataEntry
	var longest int64
	add := func(e mailstore.MetadataEntry) {
		if maxSize >= 0 && int64(len(e.Value)) > maxSize {
			longest = max(longest, int64(len(e.Value)))
			return
		}
		for _, o := range out {
			if o.Name == e.Name {
				return
			}
		}
		out = append(out, e)
	}
	for _, n := range names {
		self := mailstore.MetadataEntry{Name: n} // NIL: no such entry
		for _, e := range entries {
			if e.Name == n {
				self = e
			}
		}
		add(self)
		for _, e := range entries {
			if depth != "0" && strings.HasPrefix(e.Name, n+"/") &&
				(depth == "infinity" || !strings.Contains(e.Name[len(n)+1:], "/")) {
				add(e)
			}
		}
	}
	s.w.s("* METADATA ")
	if id == 0 {
		s.w.s(`""`)
	} else {
		s.w.mailbox(mailbox)
	}
	s.w.s(" (")
	for i, e := range out {
		if i > 0 {
			s.w.sp()
		}
		if strings.IndexFunc(e.Name, func(r rune) bool { return r > 0x7e || !isAtomChar(byte(r)) }) < 0 {
			s.w.s(e.Name).sp()
		} else {
			s.w.str(e.Name).sp()
		}
		switch {
		case e.Value == nil:
			s.w.s("NIL")
		case bytes.IndexByte(e.Value, 0) >= 0:
			s.w.literal(e.Value, true)
		default:
			s.w.str(string(e.Value))
		}
	}
	s.w.s(")\r\n")
	if longest > 0 {
		c.okCode = "METADATA LONGENTRIES " + strconv.FormatInt(longest, 10)
	}
	return nil
}

// cmdSetMetadata runs SETMETADATA mailbox (entry value ...): all or none.
func (s *session) cmdSetMetadata(c *command) error {
	if err := s.r.sp(); err != nil {
		return err
	}
	id, _, err := s.metadataMailbox()
	if err != nil {
		return err
	}
	if err := s.r.sp(); err != nil {
		return err
	}
	if err := s.r.expect('(', "a list of entries and values"); err != nil {
		return err
	}
	var entries []mailstore.MetadataEntry
	for first := true; !s.r.accept(')'); first = false {
		if !first {
			if err := s.r.sp(); err != nil {
				return err
			}
		}
		raw, err := s.r.astring("an entry name")
		if err != nil {
			return err
		}
		name, err := metadataName(raw)
		if err != nil {
			return err
		}
		if err := s.r.sp(); err != nil {
			return err
		}
		var value []byte
		switch s.r.peek() {
		case 'N', 'n':
			if _, _, err := s.r.nstring("a value"); err != nil {
				return err
			}
		case '"':
			v, err := s.r.quoted()
			if err != nil {
				return err
			}
			value = []byte(v)
		default:
			// A literal or literal8 value; one above the limit is refused
			// as MAXSIZE (and dropped if non-synchronizing).
			v, err := s.r.literal(true, maxMetadataValue)
			if se := (*statusError)(nil); errors.As(err, &se) && se.code == "TOOBIG" {
				return noErr("METADATA MAXSIZE "+strconv.Itoa(maxMetadataValue), "Value too large")
			}
			if err != nil {
				return err
			}
			value = v
		}
		if len(entries) >= maxMetadataEntries {
			return noErr("METADATA TOOMANY", "Too many entries")
		}
		if id == 0 && strings.HasPrefix(name, "/shared/") {
			return noErr("NOPERM", "Server entries under /shared are the administrator's")
		}
		entries = append(entries, mailstore.MetadataEntry{Name: name, Value: value})
	}
	if err := s.r.end(); err != nil {
		return err
	}
	if err := s.acct.SetMetadata(s.ctx, id, entries, maxMetadataEntries); err != nil {
		if errors.Is(err, core.ErrOverQuota) {
			return noErr("METADATA TOOMANY", "Too many entries")
		}
		return s.storeErr("metadata", err, "NONEXISTENT")
	}
	return nil
}
