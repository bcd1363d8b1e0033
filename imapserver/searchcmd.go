package imapserver

import (
	"io"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"
)

// cmdSearch runs SEARCH and UID SEARCH, with ESEARCH (RFC 4731) and
// SEARCHRES (RFC 5182) return options.
func (s *session) cmdSearch(c *command) error {
	if err := s.r.sp(); err != nil {
		return err
	}
	prog, err := s.r.parseSearch()
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	if err := s.checkUpdateTag(c, prog.ret); err != nil {
		return err
	}
	prog.hitsOnly = true
	hits, metas, highest, err := s.searchHits(prog)
	if err != nil {
		return err
	}
	num := func(r msgRef) uint32 {
		if c.uid {
			return r.uid
		}
		return r.seq
	}
	ret := prog.ret
	if ret == nil && s.rev2 {
		ret = &searchReturn{all: true}
	}
	if ret == nil {
		s.w.s("* SEARCH")
		for _, r := range hits {
			s.w.sp().n(num(r))
		}
		if hasModSeq(&prog.criteria) && len(hits) > 0 {
			s.w.s(" (MODSEQ ").n64(highest).c(')')
		}
		s.w.crlf()
		return nil
	}
	if err := s.answerESearch(c, ret, hits, hasModSeq(&prog.criteria), highest, metas); err != nil {
		return err
	}
	if ret.update {
		s.keepContext(c, ret, prog, nil, hits, nil)
	}
	return nil
}

// opener opens a message's bytes for imapmsg.
func (s *session) opener(m *mailstore.MessageMeta) imapmsg.Opener {
	return func() (io.ReadCloser, error) {
		return s.acct.OpenMessage(s.ctx, m)
	}
}

func toFlags(flags []string) []imap.Flag {
	out := make([]imap.Flag, len(flags))
	for i, f := range flags {
		out[i] = imap.Flag(f)
	}
	return out
}

// replaceSet replaces the placeholder set marker (by identity) in c's UID
// sets, at any depth; an empty sub matches nothing.
func replaceSet(c *imap.SearchCriteria, marker, sub imap.UIDSet) {
	if sub == nil {
		sub = imap.UIDSet{imap.UIDRange{Start: imap.UID(^uint32(0)), Stop: imap.UID(^uint32(0))}}
	}
	for i, set := range c.UID {
		if len(set) == 1 && &set[0] == &marker[0] {
			c.UID[i] = sub
		}
	}
	for i := range c.Not {
		replaceSet(&c.Not[i], marker, sub)
	}
	for i := range c.Or {
		replaceSet(&c.Or[i][0], marker, sub)
		replaceSet(&c.Or[i][1], marker, sub)
	}
}

// substituteSaved replaces the "$" marker in c's UID sets by the saved
// result (RFC 5182), at any depth.
func substituteSaved(c *imap.SearchCriteria, saved []uint32) {
	for i, set := range c.UID {
		if isSavedMarker(set) {
			var sub imap.UIDSet
			for _, u := range saved {
				sub.AddNum(imap.UID(u))
			}
			if sub == nil {
				// No saved result: a set that matches nothing.
				sub = imap.UIDSet{imap.UIDRange{Start: imap.UID(^uint32(0)), Stop: imap.UID(^uint32(0))}}
			}
			c.UID[i] = sub
		}
	}
	for i := range c.Not {
		substituteSaved(&c.Not[i], saved)
	}
	for i := range c.Or {
		substituteSaved(&c.Or[i][0], saved)
		substituteSaved(&c.Or[i][1], saved)
	}
}

// hasModSeq reports whether a MODSEQ key appears at any depth.
func hasModSeq(c *imap.SearchCriteria) bool {
	if c.ModSeq != nil {
		return true
	}
	for i := range c.Not {
		if hasModSeq(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if hasModSeq(&c.Or[i][0]) || hasModSeq(&c.Or[i][1]) {
			return true
		}
	}
	return false
}
