package imapserver

import (
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"
)

// cmdThread runs THREAD and UID THREAD (RFC 5256) with the ORDEREDSUBJECT
// and REFERENCES algorithms.
func (s *session) cmdThread(c *command) error {
	if err := s.r.sp(); err != nil {
		return err
	}
	name, err := s.r.atom("a threading algorithm")
	if err != nil {
		return err
	}
	var alg imap.ThreadAlgorithm
	switch strings.ToUpper(name) {
	case "ORDEREDSUBJECT":
		alg = imap.ThreadOrderedSubject
	case "REFERENCES":
		alg = imap.ThreadReferences
	default:
		return badf("Unknown threading algorithm %s", strings.ToValidUTF8(name, "?"))
	}
	if err := s.r.sp(); err != nil {
		return err
	}
	prog, err := s.r.charsetAndSearch("THREAD")
	if err != nil {
		return err
	}
	prog.headers = true
	hits, metas, _, err := s.searchHits(prog)
	if err != nil {
		return err
	}
	records := make([]imapmsg.ThreadRecord, len(hits))
	for i, h := range hits {
		m := metas[h.uid]
		hdr, err := s.readHeader(m)
		if err != nil {
			// Threaded as if its header were empty, rather than left out.
			s.log.Warn("IMAP thread: message unreadable", "uid", h.uid, "err", err)
		}
		records[i] = imapmsg.ThreadRecord{SeqNum: h.seq, UID: imap.UID(h.uid), InternalDate: m.InternalDate, Info: imapmsg.ThreadInfoOf(hdr)}
	}
	threads, err := imapmsg.Thread(alg, records)
	if err != nil {
		return err
	}
	line := []byte("* THREAD")
	if len(threads) > 0 {
		line = imapmsg.AppendThreads(append(line, ' '), threads, c.uid)
	}
	s.w.b(line).crlf()
	return nil
}
