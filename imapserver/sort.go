package imapserver

import (
	"errors"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"
)

// maxSortCriteria bounds the atoms of one SORT criteria list.
const maxSortCriteria = 32

// cmdSort runs SORT and UID SORT (RFC 5256), with the DISPLAYFROM and
// DISPLAYTO keys (RFC 5957) and the ESORT return options (RFC 5267 §3),
// answered as ESEARCH.
func (s *session) cmdSort(c *command) error {
	if err := s.r.sp(); err != nil {
		return err
	}
	var ret *searchReturn
	if s.r.peekWord("RETURN") {
		s.r.pos += len("RETURN")
		if err := s.r.sp(); err != nil {
			return err
		}
		var err error
		if ret, err = s.r.searchReturnOpts(); err != nil {
			return err
		}
		if err := s.r.sp(); err != nil {
			return err
		}
	}
	criteria, err := s.r.sortCriteria()
	if err != nil {
		return err
	}
	if err := s.r.sp(); err != nil {
		return err
	}
	prog, err := s.r.charsetAndSearch("SORT")
	if err != nil {
		return err
	}
	if err := s.checkUpdateTag(c, ret); err != nil {
		return err
	}
	needHeader := imapmsg.SortNeedsHeader(criteria)
	prog.headers = needHeader
	hits, metas, highest, err := s.searchHits(prog)
	if err != nil {
		return err
	}
	records := make([]imapmsg.SortRecord, 0, len(hits))
	for _, h := range hits {
		m := metas[h.uid]
		rec := imapmsg.SortRecord{SeqNum: h.seq, UID: imap.UID(h.uid), InternalDate: m.InternalDate, Size: m.Size}
		if needHeader {
			hdr, err := s.readHeader(m)
			if errors.Is(err, mailstore.ErrBodyLocked) {
				return lockedErr(h.uid)
			}
			if err != nil {
				// Sorted as if its header were empty, rather than left out.
				s.log.Warn("IMAP sort: message unreadable", "uid", h.uid, "err", err)
			}
			rec.Key = imapmsg.SortKeyOf(hdr, criteria)
		}
		records = append(records, rec)
	}
	imapmsg.Sort(records, criteria)
	sorted := make([]msgRef, len(records))
	for i := range records {
		sorted[i] = msgRef{seq: records[i].SeqNum, uid: uint32(records[i].UID)}
	}
	withModSeq := hasModSeq(&prog.criteria)
	if ret != nil {
		if err := s.answerESearch(c, ret, sorted, withModSeq, highest, metas); err != nil {
			return err
		}
		if ret.update {
			s.keepContext(c, ret, prog, criteria, nil, records)
		}
		return nil
	}
	s.w.s("* SORT")
	for _, r := range sorted {
		if c.uid {
			s.w.sp().n(r.uid)
		} else {
			s.w.sp().n(r.seq)
		}
	}
	if withModSeq && len(sorted) > 0 {
		s.w.s(" (MODSEQ ").n64(highest).c(')')
	}
	s.w.crlf()
	return nil
}

// sortCriteria reads "(" sort-criterion *(SP sort-criterion) ")" (RFC
// 5256 §5).
func (r *reader) sortCriteria() ([]imapmsg.SortCriterion, error) {
	if err := r.expect('(', "the sort criteria"); err != nil {
		return nil, err
	}
	var atoms []string
	for first := true; !r.accept(')'); first = false {
		if !first {
			if err := r.sp(); err != nil {
				return nil, err
			}
		}
		if len(atoms) >= maxSortCriteria {
			return nil, badf("Too many sort criteria")
		}
		a, err := r.atom("a sort key")
		if err != nil {
			return nil, err
		}
		atoms = append(atoms, a)
	}
	criteria, err := imapmsg.ParseSortCriteria(atoms)
	if err != nil {
		if errors.Is(err, imapmsg.ErrBadSortCriteria) {
			return nil, badf("%v", err)
		}
		return nil, err
	}
	return criteria, nil
}

// charsetAndSearch reads the search-criteria of SORT and THREAD (RFC 5256
// §5: charset 1*(SP search-key)) to the end of the command. The charset
// is mandatory; UTF-8 and US-ASCII are known (RFC 5256 §3), anything else
// is NO [BADCHARSET].
func (r *reader) charsetAndSearch(cmd string) (*searchProgram, error) {
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
	if r.peekWord("RETURN") || r.peekWord("CHARSET") {
		return nil, badf("%s takes its charset before the search keys, and RETURN before the criteria", cmd)
	}
	prog, err := r.parseSearch()
	if err != nil {
		return nil, err
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return prog, nil
}

// readHeader reads only the top-level header block of a message, which
// is all SORT and THREAD need; a large body is never read. A cached
// header, which has every field they read, is used instead.
func (s *session) readHeader(m *mailstore.MessageMeta) ([]byte, error) {
	if m.CachedHeader != nil {
		return m.CachedHeader, nil
	}
	rc, err := s.acct.OpenMessage(s.ctx, m)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return imapmsg.ReadHeader(rc)
}

// sortThreadCapabilities are the capabilities of SORT, THREAD, ESORT and
// PREVIEW, appended to the server's list.
const sortThreadCapabilities = " SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES PREVIEW"
