package imapserver

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"
)

// sortKey is one SORT criterion (RFC 5256, RFC 5957).
type sortKey struct {
	name    string
	reverse bool
}

// sortNames are the sort criteria served.
var sortNames = map[string]bool{"ARRIVAL": true, "CC": true, "DATE": true, "FROM": true, "SIZE": true, "SUBJECT": true,
	"TO": true, "DISPLAYFROM": true, "DISPLAYTO": true}

// cmdSort runs SORT and UID SORT: SORT (criteria) charset search-keys.
func (s *session) cmdSort(c *command) error {
	if err := s.r.sp(); err != nil {
		return err
	}
	// ESORT (RFC 5267 §3): RETURN options, answered with ESEARCH.
	var ret *searchReturn
	if s.r.peekWord("RETURN") {
		s.r.pos += len("RETURN ")
		var err error
		if ret, err = s.r.searchReturnOpts(); err != nil {
			return err
		}
		if ret.save {
			return badf("SAVE is not served with SORT")
		}
		if err := s.r.sp(); err != nil {
			return err
		}
	}
	if err := s.r.expect('(', "a list of sort criteria"); err != nil {
		return err
	}
	var keys []sortKey
	for {
		a, err := s.r.atom("a sort criterion")
		if err != nil {
			return err
		}
		k := sortKey{name: strings.ToUpper(a)}
		if k.name == "REVERSE" {
			if err := s.r.sp(); err != nil {
				return err
			}
			if a, err = s.r.atom("a sort criterion"); err != nil {
				return err
			}
			k = sortKey{name: strings.ToUpper(a), reverse: true}
		}
		if !sortNames[k.name] {
			return badf("Unknown sort criterion %s", k.name)
		}
		if len(keys) >= 20 {
			return badf("Too many sort criteria")
		}
		keys = append(keys, k)
		if s.r.accept(')') {
			break
		}
		if err := s.r.sp(); err != nil {
			return err
		}
	}
	if err := s.r.sp(); err != nil {
		return err
	}
	// The charset is required in SORT (RFC 5256 §3).
	prog, err := s.charsetAndSearch()
	if err != nil {
		return err
	}
	if prog.ret != nil {
		return badf("SORT takes no RETURN options here")
	}
	if err := s.r.end(); err != nil {
		return err
	}
	hits, metas, err := s.runSearch(prog)
	if err != nil {
		return err
	}
	type item struct {
		ref  msgRef
		vals []sortValue
	}
	items := make([]item, len(hits))
	for i, r := range hits {
		m := metas[r.uid]
		var env *imap.Envelope
		if needsEnvelope(keys) {
			raw, err := s.readMessage(m)
			if err != nil {
				s.log.Warn("IMAP sort: message unreadable", "uid", r.uid, "err", err)
				env = &imap.Envelope{}
			} else {
				env = imapmsg.Parse(raw).Envelope()
			}
		}
		vals := make([]sortValue, len(keys))
		for k, key := range keys {
			vals[k] = sortValueOf(key.name, m, env)
		}
		items[i] = item{r, vals}
	}
	slices.SortStableFunc(items, func(a, b item) int {
		for k, key := range keys {
			d := a.vals[k].compare(b.vals[k])
			if key.reverse {
				d = -d
			}
			if d != 0 {
				return d
			}
		}
		return cmp.Compare(a.ref.seq, b.ref.seq)
	})
	if ret != nil {
		nums := make([]uint32, len(items))
		for i, it := range items {
			nums[i] = it.ref.seq
			if c.uid {
				nums[i] = it.ref.uid
			}
		}
		s.w.s(`* ESEARCH (TAG `).str(c.tag).c(')')
		if c.uid {
			s.w.s(" UID")
		}
		if len(nums) > 0 {
			// MIN and MAX are the first and last in sort order (§3.2).
			if ret.min {
				s.w.s(" MIN ").n(nums[0])
			}
			if ret.max {
				s.w.s(" MAX ").n(nums[len(nums)-1])
			}
			if ret.all {
				s.w.s(" ALL ").s(formatOrdered(nums))
			}
		}
		if ret.count {
			s.w.s(" COUNT ").n(uint32(len(nums)))
		}
		s.w.crlf()
		return nil
	}
	s.w.s("* SORT")
	for _, it := range items {
		if c.uid {
			s.w.sp().n(it.ref.uid)
		} else {
			s.w.sp().n(it.ref.seq)
		}
	}
	s.w.crlf()
	return nil
}

func needsEnvelope(keys []sortKey) bool {
	for _, k := range keys {
		if k.name != "ARRIVAL" && k.name != "SIZE" {
			return true
		}
	}
	return false
}

// sortValue is a message's value for one criterion: a string, a number
// or a time.
type sortValue struct {
	s string
	n int64
}

func (a sortValue) compare(b sortValue) int {
	if c := cmp.Compare(a.n, b.n); c != 0 {
		return c
	}
	return strings.Compare(a.s, b.s)
}

// sortValueOf computes a criterion's value (RFC 5256 §3, RFC 5957 §3).
func sortValueOf(name string, m *mailstore.MessageMeta, env *imap.Envelope) sortValue {
	switch name {
	case "ARRIVAL":
		return sortValue{n: m.InternalDate.Unix()}
	case "SIZE":
		return sortValue{n: m.Size}
	case "DATE":
		d := env.Date
		if d.IsZero() {
			d = m.InternalDate
		}
		return sortValue{n: d.UTC().Truncate(time.Second).Unix()}
	case "SUBJECT":
		return sortValue{s: baseSubject(env.Subject)}
	case "FROM":
		return sortValue{s: firstMailbox(env.From)}
	case "TO":
		return sortValue{s: firstMailbox(env.To)}
	case "CC":
		return sortValue{s: firstMailbox(env.Cc)}
	case "DISPLAYFROM":
		return sortValue{s: firstDisplay(env.From)}
	case "DISPLAYTO":
		return sortValue{s: firstDisplay(env.To)}
	}
	return sortValue{}
}

// firstMailbox is the addr-mailbox of the first address, folded.
func firstMailbox(l []imap.Address) string {
	for _, a := range l {
		if a.Host != "" || a.Mailbox != "" {
			return strings.ToLower(a.Mailbox)
		}
	}
	return ""
}

// firstDisplay is the display name of the first address, or its
// addr-spec if it has none (RFC 5957 §3), folded.
func firstDisplay(l []imap.Address) string {
	for _, a := range l {
		if a.Host == "" && a.Mailbox == "" {
			continue
		}
		if a.Name != "" {
			return strings.ToLower(a.Name)
		}
		return strings.ToLower(a.Addr())
	}
	return ""
}

// baseSubject extracts the base subject (RFC 5256 §2.1): reply and
// forward markers, blobs and "(fwd)" trailers removed, white space
// collapsed, folded to lower case for comparison.
func baseSubject(subj string) string {
	s := strings.Join(strings.Fields(subj), " ")
	for {
		changed := false
		// (2) trailing "(fwd)" and white space.
		for {
			t := strings.TrimRight(s, " ")
			if lower := strings.ToLower(t); strings.HasSuffix(lower, "(fwd)") {
				t = t[:len(t)-len("(fwd)")]
			}
			if t == s {
				break
			}
			s = t
		}
		// (3)(4) leading subj-refwd and subj-blob, repeated.
		for {
			t := strings.TrimLeft(s, " ")
			t = stripRefwd(t)
			if u := stripBlob(t); u != "" {
				t = u
			}
			if t == s {
				break
			}
			s, changed = t, true
		}
		// (6) "[fwd:" ... "]" wrapper.
		if lower := strings.ToLower(s); strings.HasPrefix(lower, "[fwd:") && strings.HasSuffix(s, "]") {
			s, changed = strings.TrimSpace(s[len("[fwd:"):len(s)-1]), true
		}
		if !changed {
			return strings.ToLower(s)
		}
	}
}

// stripRefwd drops one leading subj-refwd: ("re" / ("fw" ["d"])) *WSP
// *(subj-blob) ":".
func stripRefwd(s string) string {
	lower := strings.ToLower(s)
	var rest string
	switch {
	case strings.HasPrefix(lower, "re"):
		rest = s[2:]
	case strings.HasPrefix(lower, "fwd"):
		rest = s[3:]
	case strings.HasPrefix(lower, "fw"):
		rest = s[2:]
	default:
		return s
	}
	rest = strings.TrimLeft(rest, " ")
	for {
		u := stripBlob(rest)
		if u == "" {
			break
		}
		rest = u
	}
	if strings.HasPrefix(rest, ":") {
		return strings.TrimLeft(rest[1:], " ")
	}
	return s
}

// stripBlob drops a leading subj-blob ("[" *BLOBCHAR "]" *WSP) if what
// is left is not empty; "" if there is none to drop.
func stripBlob(s string) string {
	if !strings.HasPrefix(s, "[") {
		return ""
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return ""
	}
	rest := strings.TrimLeft(s[end+2:], " ")
	if rest == "" {
		return ""
	}
	return rest
}

// charsetAndSearch reads the "charset SP search-keys" of SORT and THREAD
// (the charset is required there, RFC 5256 §3).
func (s *session) charsetAndSearch() (*searchProgram, error) {
	cs, err := s.r.astring("a charset")
	if err != nil {
		return nil, err
	}
	switch strings.ToUpper(cs) {
	case "US-ASCII", "UTF-8":
	default:
		return nil, &statusError{code: "BADCHARSET (US-ASCII UTF-8)", text: "Unsupported charset"}
	}
	if err := s.r.sp(); err != nil {
		return nil, err
	}
	return s.r.parseSearch()
}
