package imapserver

import (
	"slices"

	"github.com/yubinmail/yubin/mailstore"
)

// answerESearch answers an extended SEARCH (RFC 4731) or SORT (ESORT, RFC
// 5267 §3) with RETURN options: it keeps the result for "$" on SAVE (RFC
// 5182) and writes the ESEARCH response. hits are in result order
// (ascending for SEARCH, sort order for SORT): MIN and MAX are its first
// and last, ALL lists it in that order. modSeq adds the highest MODSEQ of
// the messages returned (RFC 7162 §3.1.5, RFC 4731 §3.2): of all hits
// (highest) with ALL, COUNT or PARTIAL, else of the MIN and MAX messages
// alone, whose MODSEQ metas gives.
func (s *session) answerESearch(c *command, ret *searchReturn, hits []msgRef, modSeq bool, highest int64, metas map[uint32]*mailstore.MessageMeta) error {
	num := func(r msgRef) uint32 {
		if c.uid {
			return r.uid
		}
		return r.seq
	}
	if ret.save {
		s.sel.saved = s.sel.saved[:0]
		switch {
		case len(hits) == 0:
		case (ret.min || ret.max) && !ret.all && !ret.count:
			// RFC 5182 §2.1: SAVE with only MIN and/or MAX saves those.
			if ret.min {
				s.sel.saved = append(s.sel.saved, hits[0].uid)
			}
			if ret.max && (len(hits) > 1 || !ret.min) {
				s.sel.saved = append(s.sel.saved, hits[len(hits)-1].uid)
			}
		default:
			for _, r := range hits {
				s.sel.saved = append(s.sel.saved, r.uid)
			}
		}
		slices.Sort(s.sel.saved) // a set: ESORT gives the hits in sort order
		s.sel.saved = slices.Compact(s.sel.saved)
		if !ret.min && !ret.max && !ret.all && !ret.count && ret.partial == nil {
			return nil // SAVE alone returns nothing (RFC 5182 §2.4)
		}
	}
	s.w.s(`* ESEARCH (TAG `).str(c.tag).c(')')
	if c.uid {
		s.w.s(" UID")
	}
	if len(hits) > 0 {
		if ret.min {
			s.w.s(" MIN ").n(num(hits[0]))
		}
		if ret.max {
			s.w.s(" MAX ").n(num(hits[len(hits)-1]))
		}
		if ret.all {
			nums := make([]uint32, len(hits))
			for i, r := range hits {
				nums[i] = num(r)
			}
			s.w.s(" ALL ").s(formatOrdered(nums))
		}
	}
	if ret.partial != nil {
		nums := make([]uint32, len(hits))
		for i, r := range hits {
			nums[i] = num(r)
		}
		s.writePartial(ret.partial, nums)
	}
	if ret.count {
		s.w.s(" COUNT ").n(uint32(len(hits)))
	}
	if modSeq && len(hits) > 0 {
		if !ret.all && !ret.count && ret.partial == nil && (ret.min || ret.max) {
			modSeqOf := func(r msgRef) int64 {
				if m := metas[r.uid]; m != nil {
					return m.ModSeq
				}
				return 0
			}
			highest = 0
			if ret.min {
				highest = modSeqOf(hits[0])
			}
			if ret.max {
				highest = max(highest, modSeqOf(hits[len(hits)-1]))
			}
		}
		s.w.s(" MODSEQ ").n64(highest)
	}
	s.w.crlf()
	return nil
}
