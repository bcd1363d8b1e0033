package imapserver

import (
	"errors"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"
)

// searchHits evaluates a parsed search program over the selected mailbox,
// as SEARCH, SORT and THREAD share it: it substitutes "$" and the WITHIN
// keys, and returns the matching messages in ascending order, the
// metadata of the mailbox's messages by UID, and the highest MODSEQ of
// the hits (RFC 7162 §3.1.5).
func (s *session) searchHits(prog *searchProgram) (hits []msgRef, metas map[uint32]*mailstore.MessageMeta, highest int64, err error) {
	substituteSaved(&prog.criteria, s.sel.saved)
	v := s.sel.view
	if len(v.uids) > 0 {
		list, err := s.listMessages(nil, prog.listNeed())
		if err != nil {
			return nil, nil, 0, s.storeErr("search", err, "NONEXISTENT")
		}
		metas = make(map[uint32]*mailstore.MessageMeta, len(list))
		for i := range list {
			metas[list[i].UID] = &list[i]
		}
	}
	if len(prog.within) > 0 {
		now := time.Now()
		for i := range prog.within {
			if err := s.threadMatcher(&prog.within[i], metas); err != nil {
				return nil, nil, 0, s.storeErr("search", err, "NONEXISTENT")
			}
		}
		for _, wk := range prog.within {
			cut := now.Add(-time.Duration(wk.secs) * time.Second)
			var sub imap.UIDSet
			for _, uid := range v.uids {
				m := metas[uid]
				if m == nil {
					continue
				}
				// OLDER n: internal date at least n seconds ago; YOUNGER n:
				// less than n seconds ago (RFC 5032 §3).
				if wk.match != nil {
					if wk.match(m) {
						sub.AddNum(imap.UID(uid))
					}
				} else if older := !m.InternalDate.After(cut); older == wk.older {
					sub.AddNum(imap.UID(uid))
				}
			}
			replaceSet(&prog.criteria, wk.marker, sub)
		}
	}
	sc := imapmsg.SearchContext{MaxSeqNum: uint32(len(v.uids)), MaxUID: imap.UID(v.lastUID())}
	if prog.criteria.ModSeq != nil || hasModSeq(&prog.criteria) {
		s.enableCondstore()
	}
	for i, uid := range v.uids {
		m := metas[uid]
		if m == nil {
			continue // expunged meanwhile
		}
		ok, err := s.match(&prog.criteria, uint32(i+1), m, sc)
		if errors.Is(err, mailstore.ErrBodyLocked) {
			return nil, nil, 0, lockedErr(m.UID)
		}
		if ok {
			hits = append(hits, msgRef{uint32(i + 1), uid})
			highest = max(highest, m.ModSeq)
		}
	}
	return hits, metas, highest, nil
}

// matches reports whether message m, number seq, matches criteria; one
// that cannot be read matches nothing.
func (s *session) matches(criteria *imap.SearchCriteria, seq uint32, m *mailstore.MessageMeta, sc imapmsg.SearchContext) bool {
	ok, _ := s.match(criteria, seq, m, sc)
	return ok
}

// match is matches that also returns why a message could not be read.
func (s *session) match(criteria *imap.SearchCriteria, seq uint32, m *mailstore.MessageMeta, sc imapmsg.SearchContext) (bool, error) {
	f := &imapmsg.Facts{
		SeqNum: seq, UID: imap.UID(m.UID), Flags: toFlags(s.withRecent(m.UID, m.Flags)),
		InternalDate: m.InternalDate, Size: m.Size, ModSeq: uint64(m.ModSeq),
	}
	ok, err := imapmsg.Match(criteria, f, s.searchOpener(criteria, m), sc)
	if err != nil {
		s.log.Warn("IMAP search: message unreadable", "uid", m.UID, "err", err)
		return false, err
	}
	return ok, nil
}

// lockedErr is the NO of a command that needs the text of a message
// encrypted with its owner's key (user-key mode), which this session has
// not unlocked.
func lockedErr(uid uint32) error {
	return noErr("UNAVAILABLE", "Message "+itoa32(uid)+" is encrypted with a user's key that this session has not unlocked")
}
