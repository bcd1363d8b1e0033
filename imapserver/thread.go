package imapserver

import (
	"cmp"
	"slices"
	"strings"

	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"
)

// cmdThread runs THREAD and UID THREAD with the ORDEREDSUBJECT algorithm
// (RFC 5256 §3): messages with the same base subject form a thread in
// sent-date order, the first the parent of the others; threads are in the
// order of their first messages.
func (s *session) cmdThread(c *command) error {
	if err := s.r.sp(); err != nil {
		return err
	}
	alg, err := s.r.atom("a threading algorithm")
	if err != nil {
		return err
	}
	if !strings.EqualFold(alg, "ORDEREDSUBJECT") {
		return badf("Unsupported threading algorithm %s", alg)
	}
	if err := s.r.sp(); err != nil {
		return err
	}
	prog, err := s.charsetAndSearch()
	if err != nil {
		return err
	}
	if prog.ret != nil {
		return badf("THREAD takes no RETURN options")
	}
	if err := s.r.end(); err != nil {
		return err
	}
	hits, metas, err := s.runSearch(prog)
	if err != nil {
		return err
	}
	type msg struct {
		num     uint32
		seq     uint32
		subject string
		date    int64
	}
	msgs := make([]msg, 0, len(hits))
	for _, r := range hits {
		m := metas[r.uid]
		raw, err := s.readMessage(m)
		subject, date := "", m.InternalDate.Unix()
		if err != nil {
			s.log.Warn("IMAP thread: message unreadable", "uid", r.uid, "err", err)
		} else {
			env := imapmsg.Parse(raw).Envelope()
			subject = baseSubject(env.Subject)
			if !env.Date.IsZero() {
				date = env.Date.Unix()
			}
		}
		num := r.seq
		if c.uid {
			num = r.uid
		}
		msgs = append(msgs, msg{num, r.seq, subject, date})
	}
	slices.SortStableFunc(msgs, func(a, b msg) int {
		if d := strings.Compare(a.subject, b.subject); d != 0 {
			return d
		}
		if d := cmp.Compare(a.date, b.date); d != 0 {
			return d
		}
		return cmp.Compare(a.seq, b.seq)
	})
	var threads [][]msg
	for i, m := range msgs {
		if i == 0 || m.subject != msgs[i-1].subject {
			threads = append(threads, nil)
		}
		threads[len(threads)-1] = append(threads[len(threads)-1], m)
	}
	slices.SortStableFunc(threads, func(a, b []msg) int {
		if d := cmp.Compare(a[0].date, b[0].date); d != 0 {
			return d
		}
		return cmp.Compare(a[0].seq, b[0].seq)
	})
	s.w.s("* THREAD")
	for _, t := range threads {
		s.w.s(" (").n(t[0].num)
		switch {
		case len(t) == 2:
			s.w.sp().n(t[1].num)
		case len(t) > 2:
			s.w.sp()
			for _, child := range t[1:] {
				s.w.c('(').n(child.num).c(')')
			}
		}
		s.w.c(')')
	}
	s.w.crlf()
	return nil
}
