package imap

import (
	"errors"
	"io"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"
)

// mailboxFlags are the flags SELECT announces: the system flags and the
// keywords common clients use for junk, forwarding and receipts.
var mailboxFlags = []imap.Flag{
	imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft,
	imap.FlagForwarded, imap.FlagJunk, imap.FlagNotJunk, imap.FlagMDNSent, imap.FlagPhishing,
}

// Select implements imapserver.Session (SELECT and EXAMINE).
func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	s.unselect()
	mb, err := s.srv.opts.Store.GetMailbox(s.ctx, s.user.ID, name)
	if err != nil {
		return nil, storeError(s.log, "select", err, imap.ResponseCodeNonExistent)
	}
	st, err := s.srv.opts.Store.Status(s.ctx, mb.ID)
	if err != nil {
		return nil, storeError(s.log, "select", err, imap.ResponseCodeNonExistent)
	}
	v, n, err := s.srv.hub.open(s.ctx, mb.ID, s.origin)
	if err != nil {
		return nil, storeError(s.log, "select", err, imap.ResponseCodeNonExistent)
	}
	uidNext := st.UIDNext
	if last := v.lastUID(); last >= uidNext {
		uidNext = last + 1
	}
	s.mailbox, s.view, s.readOnly, s.saved = mb, v, options != nil && options.ReadOnly, nil
	data := &imap.SelectData{
		Flags:          mailboxFlags,
		PermanentFlags: append(slices.Clone(mailboxFlags), imap.FlagWildcard),
		NumMessages:    n,
		UIDNext:        imap.UID(uidNext),
		UIDValidity:    mb.UIDValidity,
	}
	if s.readOnly {
		data.PermanentFlags = nil
	}
	return data, nil
}

// Unselect implements imapserver.Session.
func (s *session) Unselect() error {
	s.unselect()
	return nil
}

func (s *session) unselect() {
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	// An Idle imapserver stopped waiting for still uses the view; its
	// stop channel is closed, so it returns soon.
	s.idling.Wait()
	if s.view != nil {
		s.view.close()
	}
	s.mailbox, s.view, s.readOnly, s.saved = nil, nil, false, nil
}

// Poll implements imapserver.Session: it writes the changes the client
// has not seen yet.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.view == nil {
		return nil
	}
	return s.view.tracker.Poll(w, allowExpunge)
}

// Idle implements imapserver.Session: changes are written as they happen,
// starting with those queued since the last command. (SessionTracker.Idle
// would only write them once something else changes.)
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.idleMu.Lock()
	select {
	case <-stop:
		// IDLE is over already, and the session may have moved on.
		s.idleMu.Unlock()
		return nil
	default:
	}
	v := s.view
	s.idling.Add(1)
	s.idleMu.Unlock()
	defer s.idling.Done()

	if v == nil {
		<-stop
		return nil
	}
	for {
		// The hub queues, then wakes the view: whatever was queued
		// before a wake-up is written by the Poll that follows it.
		if err := v.tracker.Poll(w, true); err != nil {
			return err
		}
		select {
		case <-v.wake:
		case <-stop:
			return nil
		}
	}
}

// Expunge implements imapserver.Session (EXPUNGE, UID EXPUNGE, CLOSE).
// The EXPUNGE responses reach the client through the tracker, like
// everyone else's.
func (s *session) Expunge(_ *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	if s.readOnly {
		// CLOSE comes here too (uids nil) and must succeed without
		// expunging; so does EXPUNGE, like Dovecot's.
		if uids == nil {
			return nil
		}
		return errReadOnly
	}
	var set mailstore.UIDSet
	if uids != nil {
		set = toStoreSet(*uids, s.view.lastUID())
		if len(set) == 0 {
			return nil
		}
	}
	if _, err := s.srv.opts.Store.Expunge(s.ctx, s.mailbox.ID, set); err != nil {
		return storeError(s.log, "expunge", err, imap.ResponseCodeNonExistent)
	}
	return nil
}

// toStoreSet converts a UID set, "*" standing for max.
func toStoreSet(set imap.UIDSet, max uint32) mailstore.UIDSet {
	var out mailstore.UIDSet
	for _, r := range set {
		start, stop := uint32(r.Start), uint32(r.Stop)
		if start == 0 {
			start = max
		}
		if stop == 0 {
			stop = max
		}
		if start > stop {
			start, stop = stop, start
		}
		if stop == 0 {
			continue
		}
		out = append(out, mailstore.UIDRange{Start: start, Stop: stop})
	}
	return out
}

// refsSet returns the UIDs of refs as a store set.
func refsSet(refs []msgRef) mailstore.UIDSet {
	uids := make([]uint32, len(refs))
	for i, r := range refs {
		uids[i] = r.uid
	}
	return mailstore.UIDs(uids...)
}

// metas loads the metadata of refs, by UID.
func (s *session) metas(refs []msgRef) (map[uint32]*mailstore.MessageMeta, error) {
	// Few messages are looked up by UID; many are read in one scan.
	var set mailstore.UIDSet
	if len(refs) <= 256 {
		set = refsSet(refs)
	}
	list, err := s.srv.opts.Store.ListMessages(s.ctx, s.mailbox.ID, set)
	if err != nil {
		return nil, err
	}
	out := make(map[uint32]*mailstore.MessageMeta, len(list))
	for i := range list {
		out[list[i].UID] = &list[i]
	}
	return out, nil
}

// facts describes a message for imapmsg.
func facts(seq uint32, m *mailstore.MessageMeta) *imapmsg.Facts {
	return &imapmsg.Facts{
		SeqNum:       seq,
		UID:          imap.UID(m.UID),
		Flags:        toIMAPFlags(m.Flags),
		InternalDate: m.InternalDate,
		Size:         m.Size,
		ModSeq:       uint64(m.ModSeq),
	}
}

// opener opens a message's bytes for imapmsg.
func (s *session) opener(m *mailstore.MessageMeta) imapmsg.Opener {
	return func() (io.ReadCloser, error) {
		return s.srv.opts.Store.OpenMessage(s.ctx, m)
	}
}

// Fetch implements imapserver.Session.
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	refs := s.view.resolve(numSet, s.saved)
	if len(refs) == 0 {
		return nil
	}
	metas, err := s.metas(refs)
	if err != nil {
		return storeError(s.log, "fetch", err, imap.ResponseCodeNonExistent)
	}
	// A non-PEEK body fetch sets \Seen first, so that the FLAGS written
	// with the data are the new ones (RFC 9051 §6.4.5).
	seen := map[uint32]bool{}
	if !s.readOnly && imapmsg.MarksSeen(options) {
		var unseen []uint32
		for _, r := range refs {
			if m := metas[r.uid]; m != nil && !m.HasFlag(mailstore.FlagSeen) {
				unseen = append(unseen, r.uid)
			}
		}
		if len(unseen) > 0 {
			ups, err := s.srv.opts.Store.StoreFlags(s.ctx, s.mailbox.ID, mailstore.UIDs(unseen...), mailstore.FlagsAdd, []string{mailstore.FlagSeen})
			if err != nil {
				return storeError(s.log, "fetch", err, imap.ResponseCodeNonExistent)
			}
			for _, u := range ups {
				if m := metas[u.UID]; m != nil {
					m.Flags, m.ModSeq = u.Flags, u.ModSeq
					seen[u.UID] = true
				}
			}
		}
	}
	var cteErr error
	for _, r := range refs {
		m := metas[r.uid]
		if m == nil {
			continue // expunged since resolve
		}
		f := facts(r.seq, m)
		f.ForceFlags = seen[r.uid]
		err := imapmsg.Fetch(w.CreateMessage(r.seq), f, s.opener(m), options)
		var ie *imap.Error
		switch {
		case err == nil:
		case errors.As(err, &ie):
			cteErr = ie
		default:
			s.log.Warn("IMAP fetch: message unreadable", "uid", r.uid, "err", err)
		}
	}
	return cteErr
}

// Store implements imapserver.Session.
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	if s.readOnly {
		return errReadOnly
	}
	refs := s.view.resolve(numSet, s.saved)
	if len(refs) == 0 {
		return nil
	}
	var op mailstore.FlagOp
	switch flags.Op {
	case imap.StoreFlagsSet:
		op = mailstore.FlagsSet
	case imap.StoreFlagsAdd:
		op = mailstore.FlagsAdd
	case imap.StoreFlagsDel:
		op = mailstore.FlagsRemove
	}
	list := make([]string, 0, len(flags.Flags))
	for _, f := range flags.Flags {
		if f == "\\Recent" {
			continue
		}
		list = append(list, string(f))
	}
	ups, err := s.srv.opts.Store.StoreFlags(s.ctx, s.mailbox.ID, refsSet(refs), op, list)
	if err != nil {
		return storeError(s.log, "store", err, imap.ResponseCodeNonExistent)
	}
	if flags.Silent {
		return nil
	}
	_, byUID := numSet.(imap.UIDSet)
	seqs := make(map[uint32]uint32, len(refs))
	for _, r := range refs {
		seqs[r.uid] = r.seq
	}
	for _, u := range ups {
		seq := seqs[u.UID]
		if seq == 0 {
			continue
		}
		rw := w.CreateMessage(seq)
		if byUID {
			rw.WriteUID(imap.UID(u.UID))
		}
		rw.WriteFlags(toIMAPFlags(u.Flags))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Copy implements imapserver.Session.
func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	refs := s.view.resolve(numSet, s.saved)
	if len(refs) == 0 {
		if _, err := s.srv.opts.Store.GetMailbox(s.ctx, s.user.ID, dest); err != nil {
			return nil, storeError(s.log, "copy", err, imap.ResponseCodeTryCreate)
		}
		return nil, nil
	}
	res, err := s.srv.opts.Store.CopyMessages(s.ctx, s.mailbox.ID, refsSet(refs), dest, false)
	if err != nil {
		return nil, storeError(s.log, "copy", err, imap.ResponseCodeTryCreate)
	}
	s.notifyMove(dest, res)
	return copyData(res), nil
}

// Move implements imapserver.SessionMove. The COPYUID goes first; the
// EXPUNGE responses follow through the tracker when the command ends.
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if s.readOnly {
		return errReadOnly
	}
	refs := s.view.resolve(numSet, s.saved)
	if len(refs) == 0 {
		if _, err := s.srv.opts.Store.GetMailbox(s.ctx, s.user.ID, dest); err != nil {
			return storeError(s.log, "move", err, imap.ResponseCodeTryCreate)
		}
		return nil
	}
	res, err := s.srv.opts.Store.CopyMessages(s.ctx, s.mailbox.ID, refsSet(refs), dest, true)
	if err != nil {
		return storeError(s.log, "move", err, imap.ResponseCodeTryCreate)
	}
	if len(res.DestUIDs) == 0 {
		return nil
	}
	s.notifyMove(dest, res)
	return w.WriteCopyData(copyData(res))
}

func copyData(res *mailstore.CopyResult) *imap.CopyData {
	data := &imap.CopyData{UIDValidity: res.UIDValidity}
	for _, u := range res.SourceUIDs {
		data.SourceUIDs.AddNum(imap.UID(u))
	}
	for _, u := range res.DestUIDs {
		data.DestUIDs.AddNum(imap.UID(u))
	}
	return data
}

// Search implements imapserver.Session (SEARCH, UID SEARCH, ESEARCH and
// SEARCHRES).
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	substituteSaved(criteria, s.saved)
	refs, maxSeq, maxUID := s.view.all()
	var metas map[uint32]*mailstore.MessageMeta
	if len(refs) > 0 {
		var err error
		if metas, err = s.metas(refs); err != nil {
			return nil, storeError(s.log, "search", err, imap.ResponseCodeNonExistent)
		}
	}
	sc := imapmsg.SearchContext{MaxSeqNum: maxSeq, MaxUID: imap.UID(maxUID)}
	var hits []msgRef
	for _, r := range refs {
		m := metas[r.uid]
		if m == nil {
			continue
		}
		ok, err := imapmsg.Match(criteria, facts(r.seq, m), s.opener(m), sc)
		if err != nil {
			s.log.Warn("IMAP search: message unreadable", "uid", r.uid, "err", err)
			continue
		}
		if ok {
			hits = append(hits, r)
		}
	}
	data := &imap.SearchData{Count: uint32(len(hits))}
	num := func(r msgRef) uint32 {
		if kind == imapserver.NumKindUID {
			return r.uid
		}
		return r.seq
	}
	if len(hits) > 0 {
		data.Min, data.Max = num(hits[0]), num(hits[len(hits)-1])
	}
	if kind == imapserver.NumKindUID {
		var set imap.UIDSet
		for _, r := range hits {
			set.AddNum(imap.UID(r.uid))
		}
		if set == nil {
			set = imap.UIDSet{}
		}
		data.All = set
	} else {
		var set imap.SeqSet
		for _, r := range hits {
			set.AddNum(r.seq)
		}
		if set == nil {
			set = imap.SeqSet{}
		}
		data.All = set
	}
	if options != nil && options.ReturnSave {
		s.saved = s.saved[:0]
		switch {
		case len(hits) == 0:
		case (options.ReturnMin || options.ReturnMax) && !options.ReturnAll && !options.ReturnCount:
			// RFC 5182 §2.1: SAVE with only MIN and/or MAX saves those.
			if options.ReturnMin {
				s.saved = append(s.saved, hits[0].uid)
			}
			if options.ReturnMax && len(hits) > 1 || !options.ReturnMin {
				s.saved = append(s.saved, hits[len(hits)-1].uid)
			}
		default:
			for _, r := range hits {
				s.saved = append(s.saved, r.uid)
			}
		}
	}
	return data, nil
}

// substituteSaved replaces the SEARCHRES marker ("$") in c's UID sets by
// the saved result.
func substituteSaved(c *imap.SearchCriteria, saved []uint32) {
	for i, set := range c.UID {
		if imap.IsSearchRes(set) {
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
