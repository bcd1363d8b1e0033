package imapserver

import (
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/mailstore"
)

// Bounds of one SEARCH program.
const (
	maxSearchDepth = 100  // nesting of parentheses, NOT and OR
	maxSearchKeys  = 2000 // search keys in all
)

// searchProgram is a parsed SEARCH command.
type searchProgram struct {
	criteria imap.SearchCriteria
	// ret lists the ESEARCH return options (RFC 4731); nil for a
	// plain SEARCH.
	ret *searchReturn
	// usesSaved says whether "$" appears.
	usesSaved bool
	// within lists the OLDER and YOUNGER keys (RFC 5032): their UID sets
	// are filled in from the messages' internal dates before matching.
	within []withinKey
	// headers says that the command reads the messages' headers (SORT,
	// THREAD): they are listed with their cached headers.
	headers bool
	// hitsOnly says that the command reads only the hits and their
	// highest MODSEQ, not the messages' metadata (SEARCH).
	hitsOnly bool
}

// withinKey is an OLDER or YOUNGER key; marker is its placeholder UID
// set in the criteria, told apart by identity.
type withinKey struct {
	marker imap.UIDSet
	older  bool
	secs   int64
	// match, if set, decides instead of the internal date (the keys of
	// OBJECTID and SAVEDATE, which imap.SearchCriteria cannot express).
	match func(m *mailstore.MessageMeta) bool
	// threadID, if set, is the THREADID the messages must have (SEARCH
	// THREADID, RFC 8474 §6); searchHits makes match of it.
	threadID string
}

// searchReturn holds the RETURN options of an extended SEARCH.
type searchReturn struct {
	min, max, all, count, save bool
	// update keeps the result live (CONTEXT=SEARCH, RFC 5267 §4);
	// partial asks for a range of it (RFC 5267 §4.4).
	update  bool
	partial *partialRange
	// updateFetch are UPDATE's fetch attributes (RFC 5465 §7): fetched
	// for each new message that joins the result.
	updateFetch *fetchRequest
}

// searchParser parses search keys with bounds.
type searchParser struct {
	r      *reader
	keys   int
	within *[]withinKey
}

// parseSearch reads "[RETURN (...)] [CHARSET x] key *(SP key)" after
// SEARCH's space.
func (r *reader) parseSearch() (*searchProgram, error) {
	p := &searchProgram{}
	if r.peekWord("RETURN") {
		r.pos += len("RETURN")
		if err := r.sp(); err != nil {
			return nil, err
		}
		ret, err := r.searchReturnOpts()
		if err != nil {
			return nil, err
		}
		p.ret = ret
		if err := r.sp(); err != nil {
			return nil, err
		}
	}
	if r.peekWord("CHARSET") {
		r.pos += len("CHARSET")
		if err := r.sp(); err != nil {
			return nil, err
		}
		cs, err := r.astring("a charset")
		if err != nil {
			return nil, err
		}
		switch strings.ToUpper(cs) {
		case "US-ASCII", "UTF-8":
		default:
			return nil, &statusError{code: "BADCHARSET (US-ASCII UTF-8)", text: "Unsupported charset " + strings.ToValidUTF8(cs, "?")}
		}
		if err := r.sp(); err != nil {
			return nil, err
		}
	}
	sp := &searchParser{r: r, within: &p.within}
	for {
		if err := sp.key(&p.criteria, 0, &p.usesSaved); err != nil {
			return nil, err
		}
		if r.atEnd() {
			return p, nil
		}
		if err := r.sp(); err != nil {
			return nil, err
		}
	}
}

// peekWord reports whether the word w (case-insensitive) comes next,
// followed by a space.
func (r *reader) peekWord(w string) bool {
	rest := r.line[r.pos:]
	return len(rest) > len(w) && strings.EqualFold(string(rest[:len(w)]), w) && rest[len(w)] == ' '
}

// searchReturnOpts reads "(" [opt *(SP opt)] ")".
func (r *reader) searchReturnOpts() (*searchReturn, error) {
	if err := r.expect('(', "the RETURN options"); err != nil {
		return nil, err
	}
	ret := &searchReturn{}
	for first := true; !r.accept(')'); first = false {
		if !first {
			if err := r.sp(); err != nil {
				return nil, err
			}
		}
		a, err := r.atom("a RETURN option")
		if err != nil {
			return nil, err
		}
		switch strings.ToUpper(a) {
		case "MIN":
			ret.min = true
		case "MAX":
			ret.max = true
		case "ALL":
			if ret.all || ret.partial != nil {
				return nil, badf("RETURN takes one ALL or one PARTIAL (RFC 5267 §4.4)")
			}
			ret.all = true
		case "COUNT":
			ret.count = true
		case "SAVE":
			ret.save = true
		case "UPDATE":
			ret.update = true
			if r.peekFetchAtts() {
				r.pos++
			}
			if r.peek() == '(' {
				f, err := r.fetchAttList()
				if err != nil {
					return nil, err
				}
				ret.updateFetch = f
			}
		case "CONTEXT":
			// A hint that the search will be refined (RFC 5267 §4.2):
			// every result is computed afresh anyway.
		case "PARTIAL":
			if ret.all || ret.partial != nil {
				return nil, badf("RETURN takes one ALL or one PARTIAL (RFC 5267 §4.4)")
			}
			if err := r.sp(); err != nil {
				return nil, err
			}
			p, err := r.partialRangeArg()
			if err != nil {
				return nil, err
			}
			ret.partial = p
		default:
			return nil, badf("Unknown SEARCH RETURN option %s", a)
		}
	}
	if !ret.min && !ret.max && !ret.count && !ret.save && ret.partial == nil {
		ret.all = true // RETURN () means ALL (RFC 4731 §3.1), also with UPDATE alone
	}
	return ret, nil
}

// key reads one search key into c.
func (sp *searchParser) key(c *imap.SearchCriteria, depth int, usesSaved *bool) error {
	r := sp.r
	sp.keys++
	if sp.keys > maxSearchKeys {
		return badf("Too many search keys (at most %d)", maxSearchKeys)
	}
	if depth > maxSearchDepth {
		return badf("Search keys nested too deeply (at most %d levels)", maxSearchDepth)
	}
	switch ch := r.peek(); {
	case ch == '(':
		r.pos++
		for {
			if err := sp.key(c, depth+1, usesSaved); err != nil {
				return err
			}
			if r.accept(')') {
				return nil
			}
			if err := r.sp(); err != nil {
				return err
			}
		}
	case ch == '*' || ch == '$' || ch >= '0' && ch <= '9':
		return r.searchSet(c, usesSaved, false)
	}
	name, err := r.atom("a search key")
	if err != nil {
		return err
	}
	name = strings.ToUpper(name)
	// Keys without arguments.
	flag := func(f string, set bool) error {
		if set {
			c.Flag = append(c.Flag, imap.Flag(f))
		} else {
			c.NotFlag = append(c.NotFlag, imap.Flag(f))
		}
		return nil
	}
	switch name {
	case "ALL":
		return nil
	case "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN", "RECENT":
		return flag(`\`+strings.ToUpper(name[:1])+strings.ToLower(name[1:]), true)
	case "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
		return flag(`\`+strings.ToUpper(name[2:3])+strings.ToLower(name[3:]), false)
	case "NEW":
		c.Flag = append(c.Flag, `\Recent`)
		c.NotFlag = append(c.NotFlag, imap.FlagSeen)
		return nil
	case "OLD":
		return flag(`\Recent`, false)
	case "SAVEDATESUPPORTED":
		return nil // every mailbox keeps save dates (RFC 8514 §4.3)
	}
	if err := r.sp(); err != nil {
		return err
	}
	switch name {
	case "NOT":
		var sub imap.SearchCriteria
		if err := sp.key(&sub, depth+1, usesSaved); err != nil {
			return err
		}
		c.Not = append(c.Not, sub)
	case "OR":
		var pair [2]imap.SearchCriteria
		if err := sp.key(&pair[0], depth+1, usesSaved); err != nil {
			return err
		}
		if err := r.sp(); err != nil {
			return err
		}
		if err := sp.key(&pair[1], depth+1, usesSaved); err != nil {
			return err
		}
		c.Or = append(c.Or, pair)
	case "BCC", "CC", "FROM", "SUBJECT", "TO":
		s, err := r.astring("a search string")
		if err != nil {
			return err
		}
		field := map[string]string{"BCC": "Bcc", "CC": "Cc", "FROM": "From", "SUBJECT": "Subject", "TO": "To"}[name]
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: field, Value: s})
	case "BODY", "TEXT":
		s, err := r.astring("a search string")
		if err != nil {
			return err
		}
		if name == "BODY" {
			c.Body = append(c.Body, s)
		} else {
			c.Text = append(c.Text, s)
		}
	case "HEADER":
		field, err := r.astring("a header field name")
		if err != nil {
			return err
		}
		if err := r.sp(); err != nil {
			return err
		}
		s, err := r.astring("a search string")
		if err != nil {
			return err
		}
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: field, Value: s})
	case "KEYWORD", "UNKEYWORD":
		f, err := r.atom("a keyword")
		if err != nil {
			return err
		}
		return flag(f, name == "KEYWORD")
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		d, err := r.date()
		if err != nil {
			return err
		}
		switch name {
		case "BEFORE":
			c.Before = earliest(c.Before, d)
		case "SINCE":
			c.Since = latest(c.Since, d)
		case "ON":
			c.Since, c.Before = latest(c.Since, d), earliest(c.Before, d.AddDate(0, 0, 1))
		case "SENTBEFORE":
			c.SentBefore = earliest(c.SentBefore, d)
		case "SENTSINCE":
			c.SentSince = latest(c.SentSince, d)
		case "SENTON":
			c.SentSince, c.SentBefore = latest(c.SentSince, d), earliest(c.SentBefore, d.AddDate(0, 0, 1))
		}
	case "OLDER", "YOUNGER":
		n, err := r.number("a number of seconds")
		if err != nil {
			return err
		}
		if n == 0 {
			return badf("%s needs a number of seconds above 0", name)
		}
		sp.metaKey(c, withinKey{older: name == "OLDER", secs: int64(n)})
	case "EMAILID", "THREADID":
		id, err := r.atom("an object id")
		if err != nil {
			return err
		}
		if name == "THREADID" {
			// Decided in searchHits, with the thread ids of the mailbox.
			sp.metaKey(c, withinKey{threadID: id})
			break
		}
		sp.metaKey(c, withinKey{match: func(m *mailstore.MessageMeta) bool { return emailID(m) == id }})
	case "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		d, err := r.date()
		if err != nil {
			return err
		}
		// The save date's calendar day in UTC, as for BEFORE/ON/SINCE.
		match := func(m *mailstore.MessageMeta) bool {
			day := m.SaveDate.UTC().Truncate(24 * time.Hour)
			switch name {
			case "SAVEDBEFORE":
				return day.Before(d)
			case "SAVEDON":
				return day.Equal(d)
			}
			return !day.Before(d)
		}
		sp.metaKey(c, withinKey{match: match})
	case "LARGER", "SMALLER":
		n, err := r.number64("a size")
		if err != nil {
			return err
		}
		if name == "LARGER" {
			c.Larger = max(c.Larger, int64(n))
		} else if n == 0 {
			c.Not = append(c.Not, imap.SearchCriteria{}) // nothing is smaller than 0
		} else if c.Smaller == 0 || int64(n) < c.Smaller {
			c.Smaller = int64(n)
		}
	case "UID":
		return r.searchSet(c, usesSaved, true)
	case "MODSEQ":
		// MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162).
		if r.peek() == '"' {
			if _, err := r.quoted(); err != nil {
				return err
			}
			if err := r.sp(); err != nil {
				return err
			}
			t, err := r.atom("an entry type")
			if err != nil {
				return err
			}
			switch strings.ToLower(t) {
			case "priv", "shared", "all":
			default:
				return badf("Unknown MODSEQ entry type %s", t)
			}
			if err := r.sp(); err != nil {
				return err
			}
		}
		n, err := r.number64("a mod-sequence")
		if err != nil {
			return err
		}
		if c.ModSeq == nil || n > c.ModSeq.ModSeq {
			c.ModSeq = &imap.SearchCriteriaModSeq{ModSeq: n}
		}
	default:
		return badf("Unknown search key %s", name)
	}
	return nil
}

// savedMarker stands for "$" until the session substitutes its saved
// result; it is told apart from client sets by identity.
var savedMarker = imap.UIDSet{imap.UIDRange{}}

func isSavedMarker(s imap.UIDSet) bool {
	return len(s) == 1 && &s[0] == &savedMarker[0]
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if a.IsZero() || b.After(a) {
		return b
	}
	return a
}

func toSeqSet(s numSet) imap.SeqSet {
	out := make(imap.SeqSet, len(s.ranges))
	for i, sr := range s.ranges {
		out[i] = imap.SeqRange{Start: sr.start, Stop: sr.stop}
	}
	return out
}

func toUIDSet(s numSet) imap.UIDSet {
	out := make(imap.UIDSet, len(s.ranges))
	for i, sr := range s.ranges {
		out[i] = imap.UIDRange{Start: imap.UID(sr.start), Stop: imap.UID(sr.stop)}
	}
	return out
}

var months = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// date reads a search date: d-Mon-yyyy, optionally quoted.
func (r *reader) date() (time.Time, error) {
	quoted := r.accept('"')
	start := r.pos
	for r.pos < len(r.line) && r.line[r.pos] != ' ' && r.line[r.pos] != ')' && r.line[r.pos] != '"' {
		r.pos++
	}
	s := string(r.line[start:r.pos])
	if quoted {
		if err := r.expect('"', "the end of the date"); err != nil {
			return time.Time{}, err
		}
	}
	d, ok := parseDate(s)
	if !ok {
		return time.Time{}, badf("Invalid date %q (expected d-Mon-yyyy)", strings.ToValidUTF8(s, "?"))
	}
	return d, nil
}

// metaKey adds a key decided on the message's metadata (see withinKey):
// a placeholder UID set that searchHits fills in.
func (sp *searchParser) metaKey(c *imap.SearchCriteria, k withinKey) {
	k.marker = imap.UIDSet{imap.UIDRange{}}
	*sp.within = append(*sp.within, k)
	c.UID = append(c.UID, k.marker)
}

// parseDate parses d-Mon-yyyy.
func parseDate(s string) (time.Time, bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 || len(parts[0]) < 1 || len(parts[0]) > 2 || len(parts[2]) != 4 {
		return time.Time{}, false
	}
	day, ok := digits(parts[0])
	year, ok2 := digits(parts[2])
	if !ok || !ok2 || day < 1 || day > 31 {
		return time.Time{}, false
	}
	for i, m := range months {
		if strings.EqualFold(parts[1], m) {
			t := time.Date(year, time.Month(i+1), day, 0, 0, 0, 0, time.UTC)
			if t.Day() != day {
				return time.Time{}, false
			}
			return t, true
		}
	}
	return time.Time{}, false
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, s != ""
}

// searchSet reads the set of a sequence-set or UID search key into c: "$"
// (SEARCHRES, RFC 5182) as the saved-result marker, else the set as
// sequence numbers or UIDs.
func (r *reader) searchSet(c *imap.SearchCriteria, usesSaved *bool, uid bool) error {
	set, err := r.numSet()
	if err != nil {
		return err
	}
	switch {
	case set.saved:
		*usesSaved = true
		c.UID = append(c.UID, savedMarker)
	case uid:
		c.UID = append(c.UID, toUIDSet(set))
	default:
		c.SeqNum = append(c.SeqNum, toSeqSet(set))
	}
	return nil
}
