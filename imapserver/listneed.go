package imapserver

import (
	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"
)

// listNeed says what a command reads of the messages it lists: the less,
// the cheaper the listing (mailstore.Store.ListMessageFlags reads three
// columns and parses no dates).
type listNeed int

const (
	needMeta    listNeed = iota // every field but CachedHeader
	needFlags                   // UID, ModSeq and Flags only
	needHeaders                 // every field and the cached header
	needBodies                  // every field but the dates and CachedHeader
)

// listNeed is what FETCH f reads of each message: only its flags and
// MODSEQ for the FETCH FLAGS of a client's resync (UID, FLAGS, MODSEQ),
// its cached header for ENVELOPE, its metadata for the dates and
// THREADID, else (bodies, sizes, EMAILID) its metadata without the dates.
func (f *fetchRequest) listNeed() listNeed {
	switch {
	case f.envelope:
		return needHeaders
	case f.internalDate || f.threadID || f.saveDate:
		return needMeta
	case f.needsBody() || f.size || f.emailID:
		return needBodies
	}
	return needFlags
}

// listNeed is what the search reads of each message.
func (p *searchProgram) listNeed() listNeed {
	switch {
	case p.headers || imapmsg.NeedsBodyForSearch(&p.criteria):
		return needHeaders
	case p.hitsOnly && len(p.within) == 0 && flagKeysOnly(&p.criteria):
		return needFlags
	}
	return needMeta
}

// flagKeysOnly reports whether criteria read nothing of a message but its
// number, UID, flags and MODSEQ, at any depth (UNSEEN, FLAGGED, KEYWORD,
// UID, MODSEQ …).
func flagKeysOnly(c *imap.SearchCriteria) bool {
	if !c.Since.IsZero() || !c.Before.IsZero() || c.Larger != 0 || c.Smaller != 0 || imapmsg.NeedsBodyForSearch(c) {
		return false
	}
	for i := range c.Not {
		if !flagKeysOnly(&c.Not[i]) {
			return false
		}
	}
	for i := range c.Or {
		if !flagKeysOnly(&c.Or[i][0]) || !flagKeysOnly(&c.Or[i][1]) {
			return false
		}
	}
	return true
}
