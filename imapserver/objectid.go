package imapserver

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"

	"github.com/yubinmail/yubin/mailstore"
)

// emailID is a message's EMAILID (OBJECTID, RFC 8474 §5.1): derived from
// the key of its body, which COPY and MOVE share, so that every copy of a
// message has the same id and the id never changes. It is a digest, so the
// storage key itself is not shown.
func emailID(m *mailstore.MessageMeta) string {
	sum := sha256.Sum256([]byte("yubin-emailid:" + m.BlobKey))
	return "E" + hex.EncodeToString(sum[:12])
}

// threadIDs returns the THREADIDs (OBJECTID, RFC 8474 §5.2) of metas, by
// blob key: those the store has, and for the others, given now in UID
// order from their Message-ID, In-Reply-To and References (see
// mailstore/threads.go), so that messages older than thread ids get
// theirs on first use.
func (s *session) threadIDs(metas []*mailstore.MessageMeta) (map[string]string, error) {
	keys := make([]string, 0, len(metas))
	for _, m := range metas {
		keys = append(keys, m.BlobKey)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	ids, err := s.acct.ThreadIDs(s.ctx, keys)
	if err != nil || len(ids) == len(keys) {
		return ids, err
	}
	todo := slices.Clone(metas)
	slices.SortFunc(todo, func(a, b *mailstore.MessageMeta) int { return int(int64(a.UID) - int64(b.UID)) })
	var items []mailstore.ThreadItem
	queued := map[string]bool{}
	for _, m := range todo {
		if _, ok := ids[m.BlobKey]; ok || queued[m.BlobKey] {
			continue
		}
		queued[m.BlobKey] = true
		hdr, err := s.readHeader(m)
		if err != nil {
			// A thread of its own, rather than none.
			s.log.Warn("THREADID: message unreadable", "uid", m.UID, "err", err)
		}
		ti := imapmsg.ThreadInfoOf(hdr)
		refs := slices.Clone(ti.References)
		if ti.MessageID != "" {
			refs = append(refs, ti.MessageID)
		}
		items = append(items, mailstore.ThreadItem{BlobKey: m.BlobKey, MessageIDs: refs})
	}
	given, err := s.acct.AssignThreads(s.ctx, s.sel.mailbox.ID, items)
	if err != nil {
		return nil, err
	}
	for k, id := range given {
		ids[k] = id
	}
	return ids, nil
}

// threadIDOf returns m's THREADID from known, else looked up (or given)
// now; "" if the store failed.
func (s *session) threadIDOf(m *mailstore.MessageMeta, known map[string]string) string {
	if id, ok := known[m.BlobKey]; ok {
		return id
	}
	ids, err := s.threadIDs([]*mailstore.MessageMeta{m})
	if err != nil {
		s.log.Warn("THREADID", "uid", m.UID, "err", err)
		return ""
	}
	return ids[m.BlobKey]
}

// threadMatcher makes the match of a SEARCH THREADID key: the messages
// with that thread id, of those in metas (all of the mailbox's, whose
// thread ids it looks up or gives); messages that come later are looked
// up as they come (CONTEXT=SEARCH updates).
func (s *session) threadMatcher(wk *withinKey, metas map[uint32]*mailstore.MessageMeta) error {
	if wk.threadID == "" || wk.match != nil {
		return nil
	}
	list := make([]*mailstore.MessageMeta, 0, len(metas))
	for _, m := range metas {
		list = append(list, m)
	}
	known, err := s.threadIDs(list)
	if err != nil {
		return err
	}
	want := wk.threadID
	wk.match = func(m *mailstore.MessageMeta) bool { return s.threadIDOf(m, known) == want }
	return nil
}
