package imapmsg

import (
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/core/mimetext"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// SearchContext gives what SEARCH needs beyond one message.
type SearchContext struct {
	MaxSeqNum uint32         // the sequence number "*" stands for
	MaxUID    imap.UID       // the UID "*" stands for
	Location  *time.Location // zone for SINCE/BEFORE/ON on the internal date; nil means UTC
}

// NeedsBodyForSearch reports whether criteria need the message's bytes
// (header, body, text and sent-date keys, at any depth).
func NeedsBodyForSearch(c *imap.SearchCriteria) bool {
	if len(c.Header) > 0 || len(c.Body) > 0 || len(c.Text) > 0 ||
		!c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		return true
	}
	for i := range c.Not {
		if NeedsBodyForSearch(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if NeedsBodyForSearch(&c.Or[i][0]) || NeedsBodyForSearch(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// Match reports whether the message satisfies c. open is called at most
// once, only if needed. Cheap keys are checked before the message is read.
// UID sets must not contain the SEARCHRES marker ("$"); substitute the saved
// result first.
func Match(c *imap.SearchCriteria, f *Facts, open Opener, sc SearchContext) (bool, error) {
	if sc.Location == nil {
		sc.Location = time.UTC
	}
	d := &searchDoc{open: open, uid: f.UID}
	return d.match(c, f, &sc)
}

// match evaluates c: metadata keys first, then Not/Or, then content keys.
func (d *searchDoc) match(c *imap.SearchCriteria, f *Facts, sc *SearchContext) (bool, error) {
	if !matchMeta(c, f, sc) {
		return false, nil
	}
	for i := range c.Not {
		ok, err := d.match(&c.Not[i], f, sc)
		if err != nil || ok {
			return false, err
		}
	}
	for i := range c.Or {
		ok, err := d.match(&c.Or[i][0], f, sc)
		if err != nil {
			return false, err
		}
		if !ok {
			if ok, err = d.match(&c.Or[i][1], f, sc); err != nil || !ok {
				return false, err
			}
		}
	}
	return d.matchContent(c)
}

// matchMeta checks the keys that need only Facts.
func matchMeta(c *imap.SearchCriteria, f *Facts, sc *SearchContext) bool {
	for _, set := range c.SeqNum {
		if !inSeqSet(set, f.SeqNum, sc.MaxSeqNum) {
			return false
		}
	}
	for _, set := range c.UID {
		if !inUIDSet(set, f.UID, sc.MaxUID) {
			return false
		}
	}
	if !c.Since.IsZero() || !c.Before.IsZero() {
		if !inDateRange(f.InternalDate.In(sc.Location), c.Since, c.Before) {
			return false
		}
	}
	for _, flag := range c.Flag {
		if !hasFlag(f.Flags, flag) {
			return false
		}
	}
	for _, flag := range c.NotFlag {
		if hasFlag(f.Flags, flag) {
			return false
		}
	}
	if c.Larger != 0 && f.Size <= c.Larger {
		return false
	}
	if c.Smaller != 0 && f.Size >= c.Smaller {
		return false
	}
	if c.ModSeq != nil && f.ModSeq < c.ModSeq.ModSeq {
		return false
	}
	return true
}

// matchContent checks the keys that need the message.
func (d *searchDoc) matchContent(c *imap.SearchCriteria) (bool, error) {
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		h, err := d.rootHeader()
		if err != nil {
			return false, err
		}
		sent, ok := parseDate(h.Get("Date"))
		if !ok || !inDateRange(sent, c.SentSince, c.SentBefore) {
			return false, nil
		}
	}
	for _, hf := range c.Header {
		h, err := d.rootHeader()
		if err != nil {
			return false, err
		}
		if !matchHeaderField(h, hf.Key, hf.Value) {
			return false, nil
		}
	}
	for _, s := range c.Body {
		text, err := d.body()
		if err != nil {
			return false, err
		}
		if !strings.Contains(text, fold(s)) {
			return false, nil
		}
	}
	for _, s := range c.Text {
		needle := fold(s)
		text, err := d.header()
		if err != nil {
			return false, err
		}
		if strings.Contains(text, needle) {
			continue
		}
		if text, err = d.body(); err != nil {
			return false, err
		}
		if !strings.Contains(text, needle) {
			return false, nil
		}
	}
	return true, nil
}

// inDateRange compares t's calendar date (in t's own location) with the
// dates of since (inclusive) and before (exclusive), ignoring times and
// zones as RFC 9051 requires. Zero bounds are open.
func inDateRange(t, since, before time.Time) bool {
	day := civilDay(t)
	if !since.IsZero() && day < civilDay(since) {
		return false
	}
	if !before.IsZero() && day >= civilDay(before) {
		return false
	}
	return true
}

// civilDay numbers the calendar date of t in t's location.
func civilDay(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// hasFlag reports whether flags contains flag, ignoring case.
func hasFlag(flags []imap.Flag, flag imap.Flag) bool {
	for _, f := range flags {
		if strings.EqualFold(string(f), string(flag)) {
			return true
		}
	}
	return false
}

// matchHeaderField implements HEADER (and FROM, TO, CC, BCC, SUBJECT): a
// field with that name whose decoded value contains value, ignoring case.
// From, To, Cc and Bcc are matched on their parsed addresses (see
// MatchAddressField); go-imap gives FROM x and HEADER FROM x alike. An
// empty value matches any message that has the field.
func matchHeaderField(h *mimeparse.Header, name, value string) bool {
	needle := fold(value)
	addresses := isAddressSearchField(name)
	for i := range h.Len() {
		if !mimeparse.EqualFoldASCII(h.Name(i), name) {
			continue
		}
		switch {
		case needle == "":
			return true
		case addresses:
			if MatchAddressField(h.Value(i), value) {
				return true
			}
		case strings.Contains(fold(mimetext.DecodeHeader(h.Value(i))), needle):
			return true
		}
	}
	return false
}
