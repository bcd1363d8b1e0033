package imapserver

import (
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"
)

// CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): a SEARCH or SORT with
// RETURN (UPDATE) stays live until CANCELUPDATE or the end of the
// selection; whenever the session reports changes of the mailbox, it also
// reports how each live result changed, in ESEARCH responses with ADDTO
// and REMOVEFROM. Only the messages that changed are evaluated again.

// maxSearchContexts bounds the live results of one session; beyond, a
// search is answered without updates and NOUPDATE (RFC 5267 §4.2).
const maxSearchContexts = 8

// searchContext is one live SEARCH or SORT result.
type searchContext struct {
	tag      string
	uid      bool
	ret      searchReturn
	criteria imap.SearchCriteria
	// sortBy is nil for SEARCH. records is the SORT result in order, its
	// records with SeqNum 0 (UIDs order the ties the same way).
	sortBy  []imapmsg.SortCriterion
	records []imapmsg.SortRecord
	// hits is the SEARCH result, ascending UIDs.
	hits []uint32
}

// contextChanges are the UIDs a poll told the client about; own are
// those of added that the session appended or copied itself. (Expunges
// are reported before their EXPUNGE responses, see removeExpunged.)
type contextChanges struct {
	added, flagged, own []uint32
}

// partialRange is PARTIAL's range (RFC 5267 §4.4), 1-based, lo <= hi.
type partialRange struct {
	lo, hi uint32
}

// partialRangeArg reads "lo:hi".
func (r *reader) partialRangeArg() (*partialRange, error) {
	lo, err := r.number("the start of a PARTIAL range")
	if err != nil {
		return nil, err
	}
	if err := r.expect(':', "a PARTIAL range (n:m)"); err != nil {
		return nil, err
	}
	hi, err := r.number("the end of a PARTIAL range")
	if err != nil {
		return nil, err
	}
	if lo == 0 || hi == 0 {
		return nil, badf("PARTIAL positions start at 1")
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return &partialRange{lo, hi}, nil
}

// writePartial writes PARTIAL's return data: the range and the numbers
// of the hits in it, or NIL.
func (s *session) writePartial(p *partialRange, nums []uint32) {
	s.w.s(" PARTIAL (").n(p.lo).c(':').n(p.hi).sp()
	if int(p.lo) > len(nums) {
		s.w.s("NIL)")
		return
	}
	s.w.s(formatOrdered(nums[p.lo-1 : min(int(p.hi), len(nums))])).c(')')
}

// keepContext makes the result of a SEARCH or SORT with RETURN (UPDATE)
// live, or answers NOUPDATE when the session has too many.
func (s *session) keepContext(c *command, ret *searchReturn, prog *searchProgram, sortBy []imapmsg.SortCriterion, hits []msgRef, records []imapmsg.SortRecord) {
	if len(s.sel.contexts) >= maxSearchContexts {
		s.w.s("* NO [NOUPDATE ").str(c.tag).s("] Too many live search results; cancel some first\r\n")
		return
	}
	sc := &searchContext{tag: c.tag, uid: c.uid, ret: *ret, criteria: prog.criteria, sortBy: sortBy}
	if sortBy != nil {
		sc.records = records
		for i := range sc.records {
			sc.records[i].SeqNum = 0
		}
	} else {
		sc.hits = make([]uint32, len(hits))
		for i, h := range hits {
			sc.hits[i] = h.uid
		}
	}
	s.sel.contexts = append(s.sel.contexts, sc)
}

// cmdCancelUpdate runs CANCELUPDATE tag *(SP tag) (RFC 5267 §4.3).
func (s *session) cmdCancelUpdate(c *command) error {
	var tags []string
	for !s.r.atEnd() {
		if err := s.r.sp(); err != nil {
			return err
		}
		tag, err := s.r.str("a search tag")
		if err != nil {
			return err
		}
		tags = append(tags, tag)
	}
	if len(tags) == 0 {
		return badf("CANCELUPDATE names the tags of the searches")
	}
	for _, tag := range tags {
		if !slices.ContainsFunc(s.sel.contexts, func(sc *searchContext) bool { return sc.tag == tag }) {
			return badf("No live search result has the tag %q", strings.ToValidUTF8(tag, "?"))
		}
	}
	s.sel.contexts = slices.DeleteFunc(s.sel.contexts, func(sc *searchContext) bool { return slices.Contains(tags, sc.tag) })
	return nil
}

// updateContexts reports how the live results changed with ch.
func (s *session) updateContexts(ch *contextChanges) {
	if s.sel == nil || len(s.sel.contexts) == 0 || len(ch.added)+len(ch.flagged) == 0 {
		return
	}
	// Load what the changed messages are now, once for all contexts.
	check := slices.Concat(ch.added, ch.flagged)
	slices.Sort(check)
	check = slices.Compact(check)
	var metas map[uint32]*mailstore.MessageMeta
	if len(check) > 0 {
		list, err := s.acct.ListMessages(s.ctx, s.sel.mailbox.ID, mailstore.UIDs(check...))
		if err != nil {
			s.log.Warn("IMAP search context: list messages", "err", err)
			return
		}
		metas = make(map[uint32]*mailstore.MessageMeta, len(list))
		for i := range list {
			metas[list[i].UID] = &list[i]
		}
	}
	for _, sc := range s.sel.contexts {
		s.updateContext(sc, ch, check, metas)
	}
}

// updateContext evaluates the changed messages for one context and writes
// its ESEARCH update, if anything changed.
func (s *session) updateContext(sc *searchContext, ch *contextChanges, check []uint32, metas map[uint32]*mailstore.MessageMeta) {
	v := s.sel.view
	in := sc.members()
	matchNow := map[uint32]bool{} // of check, those in the result now
	scx := imapmsg.SearchContext{MaxSeqNum: uint32(len(v.uids)), MaxUID: imap.UID(v.lastUID())}
	for _, uid := range check {
		m := metas[uid]
		seq := v.seqOf(uid)
		if m == nil || seq == 0 {
			continue
		}
		if s.matches(&sc.criteria, seq, m, scx) {
			matchNow[uid] = true
		}
	}
	var removed, added []uint32
	gone := map[uint32]bool{}
	for _, uid := range check {
		if metas[uid] == nil || v.seqOf(uid) == 0 {
			// Expunged meanwhile: it leaves the result when the client
			// is told of the expunge.
			continue
		}
		now := matchNow[uid]
		switch {
		case in[uid] && !now && !gone[uid]:
			removed = append(removed, uid)
			gone[uid] = true
		case !in[uid] && now:
			added = append(added, uid)
		}
	}
	if len(removed)+len(added) == 0 {
		return
	}
	num := sc.numbering(v)
	if sc.ret.updateFetch != nil {
		// New messages joining the result are fetched first (RFC 5465
		// §7); messages joining by a flag change are not.
		arrived := setOf(ch.added)
		for _, uid := range ch.own {
			delete(arrived, uid)
		}
		for _, uid := range added {
			if m := metas[uid]; m != nil && arrived[uid] {
				r := *sc.ret.updateFetch
				r.uid = true
				if err := s.fetchOne(v.seqOf(uid), m, &r, false); err != nil {
					s.log.Debug("IMAP search context: fetch of a new message", "uid", uid, "err", err)
				}
			}
		}
	}
	s.writeContextChange(sc, gone, removed, added, metas, num)
}

// writeContextChange applies a change of a live result and writes it as
// an ESEARCH response. UPDATE does not interact with MIN, MAX or COUNT
// (RFC 5267 §4.3): the update has only ADDTO and REMOVEFROM.
func (s *session) writeContextChange(sc *searchContext, gone map[uint32]bool, removed, added []uint32, metas map[uint32]*mailstore.MessageMeta, num func(uint32) uint32) {
	s.w.s("* ESEARCH (TAG ").str(sc.tag).c(')')
	if sc.uid {
		s.w.s(" UID")
	}
	if sc.sortBy == nil {
		s.updateSearchResult(sc, gone, removed, added, num)
	} else {
		s.updateSortResult(sc, gone, added, metas, num)
	}
	s.w.crlf()
}

// removeExpunged reports that messages about to be expunged leave the
// live results: before the EXPUNGE responses, so that their numbers are
// still valid (RFC 5267 §4.3.4).
func (s *session) removeExpunged(uids []uint32) {
	if s.sel == nil || len(s.sel.contexts) == 0 {
		return
	}
	v := s.sel.view
	gone := make(map[uint32]bool, len(uids))
	for _, uid := range uids {
		if v.seqOf(uid) != 0 {
			gone[uid] = true
		}
	}
	for _, sc := range s.sel.contexts {
		var removed []uint32
		for _, uid := range sc.result() {
			if gone[uid] {
				removed = append(removed, uid)
			}
		}
		if len(removed) == 0 {
			continue
		}
		s.writeContextChange(sc, gone, removed, nil, nil, sc.numbering(v))
	}
}

// numbering returns how the context's client numbers a message: by UID
// or by its sequence number in v.
func (sc *searchContext) numbering(v *view) func(uint32) uint32 {
	if sc.uid {
		return func(uid uint32) uint32 { return uid }
	}
	return v.seqOf
}

// checkUpdateTag refuses an UPDATE whose tag a live result already has
// (RFC 5267 §4.3: updates are told apart by tag).
func (s *session) checkUpdateTag(c *command, ret *searchReturn) error {
	if ret == nil || !ret.update {
		return nil
	}
	if slices.ContainsFunc(s.sel.contexts, func(sc *searchContext) bool { return sc.tag == c.tag }) {
		return badf("Tag %s is in use by a live search result; use another tag", c.tag)
	}
	return nil
}

// updateSearchResult applies a SEARCH result's changes and writes them;
// positions in an unsorted result are 0 (RFC 5267 §4.3).
func (s *session) updateSearchResult(sc *searchContext, gone map[uint32]bool, removed, added []uint32, num func(uint32) uint32) {
	if nums := sc.numbers(removed, num); len(nums) > 0 {
		s.w.s(" REMOVEFROM (0 ").s(formatUIDs(nums)).c(')')
	}
	if nums := sc.numbers(added, num); len(nums) > 0 {
		s.w.s(" ADDTO (0 ").s(formatUIDs(nums)).c(')')
	}
	sc.hits = slices.DeleteFunc(sc.hits, func(uid uint32) bool { return gone[uid] })
	sc.hits = append(sc.hits, added...)
	slices.Sort(sc.hits)
}

// numbers returns the numbers of uids as the context's client knows them,
// ascending.
func (sc *searchContext) numbers(uids []uint32, num func(uint32) uint32) []uint32 {
	var out []uint32
	for _, uid := range uids {
		if n := num(uid); n != 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// updateSortResult applies a SORT result's changes and writes them: each
// removal at its position before the update, from the last one, then each
// addition at its position in the new order, from the first one, so that
// applying them one after another gives the new result.
func (s *session) updateSortResult(sc *searchContext, gone map[uint32]bool, added []uint32, metas map[uint32]*mailstore.MessageMeta, num func(uint32) uint32) {
	var rem []string
	for i := len(sc.records) - 1; i >= 0; i-- {
		uid := uint32(sc.records[i].UID)
		if !gone[uid] {
			continue
		}
		if n := num(uid); n != 0 {
			rem = append(rem, itoa32(uint32(i+1))+" "+itoa32(n))
		}
	}
	sc.records = slices.DeleteFunc(sc.records, func(r imapmsg.SortRecord) bool { return gone[uint32(r.UID)] })
	needHeader := imapmsg.SortNeedsHeader(sc.sortBy)
	for _, uid := range added {
		m := metas[uid]
		rec := imapmsg.SortRecord{UID: imap.UID(uid), InternalDate: m.InternalDate, Size: m.Size}
		if needHeader {
			hdr, err := s.readHeader(m)
			if err != nil {
				s.log.Warn("IMAP sort context: message unreadable", "uid", uid, "err", err)
			}
			rec.Key = imapmsg.SortKeyOf(hdr, sc.sortBy)
		}
		sc.records = append(sc.records, rec)
	}
	if len(added) > 0 {
		imapmsg.Sort(sc.records, sc.sortBy)
	}
	var add []string
	joined := setOf(added)
	for i := range sc.records {
		uid := uint32(sc.records[i].UID)
		if joined[uid] {
			add = append(add, itoa32(uint32(i+1))+" "+itoa32(num(uid)))
		}
	}
	if len(rem) > 0 {
		s.w.s(" REMOVEFROM (").s(strings.Join(rem, " ")).c(')')
	}
	if len(add) > 0 {
		s.w.s(" ADDTO (").s(strings.Join(add, " ")).c(')')
	}
}

// setOf returns uids as a set.
func setOf(uids []uint32) map[uint32]bool {
	set := make(map[uint32]bool, len(uids))
	for _, uid := range uids {
		set[uid] = true
	}
	return set
}

// members returns the UIDs in the result.
func (sc *searchContext) members() map[uint32]bool {
	res := sc.result()
	in := make(map[uint32]bool, len(res))
	for _, uid := range res {
		in[uid] = true
	}
	return in
}

// result returns the UIDs of the result in its order.
func (sc *searchContext) result() []uint32 {
	if sc.sortBy == nil {
		return sc.hits
	}
	out := make([]uint32, len(sc.records))
	for i := range sc.records {
		out[i] = uint32(sc.records[i].UID)
	}
	return out
}

// contextCapabilities are the capabilities of RFC 5267 §4, appended to
// the server's list.
const contextCapabilities = " CONTEXT=SEARCH CONTEXT=SORT"
