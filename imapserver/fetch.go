package imapserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"
)

// internalDate is the layout of INTERNALDATE.
const internalDate = "02-Jan-2006 15:04:05 -0700"

// metas loads the metadata of refs, by UID, with what need asks for.
func (s *session) metas(refs []msgRef, need listNeed) (map[uint32]*mailstore.MessageMeta, error) {
	// Few messages are looked up by UID; many are read in one scan.
	var set mailstore.UIDSet
	if len(refs) <= 256 {
		set = refsUIDs(refs)
	}
	list, err := s.listMessages(set, need)
	if err != nil {
		return nil, err
	}
	out := make(map[uint32]*mailstore.MessageMeta, len(list))
	for i := range list {
		out[list[i].UID] = &list[i]
	}
	return out, nil
}

// addExpunged adds to metas the messages of refs that another session
// expunged after this one last heard (it has not been told yet): the
// store keeps them readable for a while, so FETCH answers with their data
// as RFC 2180 §4.1.1 prefers, rather than NO.
func (s *session) addExpunged(refs []msgRef, metas map[uint32]*mailstore.MessageMeta) error {
	var missing []uint32
	for _, r := range refs {
		if metas[r.uid] == nil {
			missing = append(missing, r.uid)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	gone, err := s.acct.ListExpunged(s.ctx, s.sel.mailbox.ID, missing)
	if err != nil {
		return err
	}
	for i := range gone {
		metas[gone[i].UID] = &gone[i]
	}
	return nil
}

// cmdFetch runs FETCH and UID FETCH.
func (s *session) cmdFetch(c *command) error {
	ns, err := s.r.spNumSet()
	if err != nil {
		return err
	}
	if err := s.r.sp(); err != nil {
		return err
	}
	req, err := s.r.parseFetch()
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	if req.vanished && !(c.uid && s.qresync) {
		return badf("VANISHED needs UID FETCH and QRESYNC enabled")
	}
	if req.modSeq {
		s.enableCondstore()
	}
	if c.uid {
		req.uid = true
	}
	// The responses go out in large writes, with the tagged OK.
	if err := s.w.bulk(); err != nil {
		return errors.Join(errFatal, err)
	}
	if req.vanished && !ns.saved {
		if gone := s.sel.view.missing(ns, s.sel.view.lastUID()); gone != "" {
			s.w.s("* VANISHED (EARLIER) ").s(gone).crlf()
		}
	}
	refs := s.sel.view.resolve(ns, c.uid, s.sel.saved)
	if len(refs) == 0 {
		return nil
	}
	metas, err := s.metas(refs, req.listNeed())
	if err != nil {
		return s.storeErr("fetch", err, "NONEXISTENT")
	}
	if err := s.addExpunged(refs, metas); err != nil {
		return s.storeErr("fetch", err, "NONEXISTENT")
	}
	seen := map[uint32]bool{}
	if req.setsSeen() && !s.sel.readOnly && s.selectedMay("s") {
		var unseen []uint32
		for _, r := range refs {
			if m := metas[r.uid]; m != nil && !m.HasFlag(`\Seen`) {
				unseen = append(unseen, r.uid)
			}
		}
		if len(unseen) > 0 {
			ups, _, err := s.acct.StoreFlags(s.ctx, s.sel.mailbox.ID, mailstore.UIDs(unseen...), mailstore.FlagsAdd, []string{`\Seen`}, -1)
			if err != nil {
				return s.storeErr("fetch", err, "NONEXISTENT")
			}
			for _, u := range ups {
				if m := metas[u.UID]; m != nil {
					m.Flags, m.ModSeq = u.Flags, u.ModSeq
					seen[u.UID] = true
				}
			}
		}
	}
	if req.threadID {
		list := make([]*mailstore.MessageMeta, 0, len(refs))
		for _, r := range refs {
			if m := metas[r.uid]; m != nil {
				list = append(list, m)
			}
		}
		if req.threads, err = s.threadIDs(list); err != nil {
			return s.storeErr("fetch", err, "NONEXISTENT")
		}
	}
	if req.needsBody() {
		req.bodies = s.acct.OpenMessages(s.ctx, bodyOrder(refs, metas, req))
		defer func() { req.bodies.Close(); req.bodies = nil }()
	}
	var failed error
	gone := false
	for _, r := range refs {
		m := metas[r.uid]
		if m == nil {
			gone = true // expunged by another session (RFC 2180 §4.1.3)
			continue
		}
		if req.changedSince > 0 && uint64(m.ModSeq) <= req.changedSince {
			continue
		}
		if err := s.fetchOne(r.seq, m, req, seen[r.uid]); err != nil {
			var se *statusError
			if errors.As(err, &se) {
				failed = se
				continue
			}
			return err
		}
	}
	if failed != nil {
		return failed
	}
	if gone {
		return noErr("EXPUNGEISSUED", "Some of the messages were expunged meanwhile")
	}
	return nil
}

// bodyOrder lists the messages of refs whose bodies FETCH reads, in the
// order it reads them.
func bodyOrder(refs []msgRef, metas map[uint32]*mailstore.MessageMeta, req *fetchRequest) []*mailstore.MessageMeta {
	order := make([]*mailstore.MessageMeta, 0, len(refs))
	headerOnly := req.headerOnly()
	for _, r := range refs {
		m := metas[r.uid]
		if m == nil || req.changedSince > 0 && uint64(m.ModSeq) <= req.changedSince || headerOnly && m.CachedHeader != nil {
			continue
		}
		order = append(order, m)
	}
	return order
}

// openBody opens m's bytes, through the request's batched reader if any.
func (s *session) openBody(m *mailstore.MessageMeta, req *fetchRequest) (io.ReadCloser, error) {
	if req.bodies != nil {
		return req.bodies.Open(m)
	}
	return s.acct.OpenMessage(s.ctx, m)
}

// fetchOne writes the FETCH response of one message.
func (s *session) fetchOne(seq uint32, m *mailstore.MessageMeta, req *fetchRequest, forceFlags bool) error {
	var msg *imapmsg.Message
	// whole is the message's bytes when the one body item asked for is
	// all of them (BODY[], BODY.PEEK[], RFC822): they are sent as they
	// are, without being parsed (see wholeBody).
	var whole *wholeBody
	if req.headerOnly() && m.CachedHeader != nil {
		msg = imapmsg.Parse(m.CachedHeader)
	} else if req.needsBody() {
		if req.wholeOnly() {
			var err error
			if whole, err = s.openWhole(m, req); err != nil {
				return s.unreadable(m, err)
			}
			defer whole.Close()
		} else {
			raw, err := s.readMessage(m, req)
			if err != nil {
				return s.unreadable(m, err)
			}
			msg = imapmsg.Parse(raw)
		}
	}
	// Check what can fail before writing anything.
	binaries := make([][]byte, len(req.binary))
	for i, b := range req.binary {
		data, err := msg.Binary(b.Part)
		if err != nil {
			return noErr("UNKNOWN-CTE", "Cannot decode the part's transfer encoding")
		}
		binaries[i] = applyPartial(data, b.Partial)
	}
	binSizes := make([]int, len(req.binarySize))
	for i, p := range req.binarySize {
		data, err := msg.Binary(p)
		if err != nil {
			return noErr("UNKNOWN-CTE", "Cannot decode the part's transfer encoding")
		}
		binSizes[i] = len(data)
	}
	if req.flags || forceFlags {
		s.noteKeywords(m.Flags)
	}
	w := s.w
	w.s("* ").n(seq).s(" FETCH (")
	sep := false
	item := func(name string) *writer {
		if sep {
			w.sp()
		}
		sep = true
		return w.s(name).sp()
	}
	if req.uid {
		item("UID").n(m.UID)
	}
	if req.flags || forceFlags {
		item("FLAGS").flags(s.withRecent(m.UID, m.Flags))
	}
	if req.internalDate {
		item("INTERNALDATE").str(m.InternalDate.Format(internalDate))
	}
	if req.size {
		item("RFC822.SIZE").n64(m.Size)
	}
	if req.modSeq || s.condstore && forceFlags {
		item("MODSEQ").c('(').n64(m.ModSeq).c(')')
	}
	if req.envelope {
		item("ENVELOPE").envelope(msg.EnvelopeStructure())
	}
	if req.body {
		item("BODY").bodyStructure(msg.BodyStructure(false), false)
	}
	if req.bodyStructure {
		item("BODYSTRUCTURE").bodyStructure(msg.BodyStructure(true), true)
	}
	if req.preview {
		item("PREVIEW").str(msg.Preview())
	}
	if req.emailID {
		item("EMAILID").c('(').s(emailID(m)).c(')')
	}
	if req.threadID {
		if id := s.threadIDOf(m, req.threads); id != "" {
			item("THREADID").c('(').s(id).c(')')
		} else {
			item("THREADID").s("NIL") // the store failed: logged
		}
	}
	if req.saveDate {
		item("SAVEDATE").str(m.SaveDate.Format(internalDate))
	}
	if req.rfc822Header {
		item("RFC822.HEADER").literal(msg.Section(&imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader}), false)
	}
	if req.rfc822Text {
		item("RFC822.TEXT").literal(msg.Section(&imap.FetchItemBodySection{Specifier: imap.PartSpecifierText}), false)
	}
	if whole != nil {
		if req.rfc822 {
			item("RFC822")
		} else {
			item(req.wholeName)
		}
		if err := whole.writeTo(w); err != nil {
			// Part of the literal is out: the connection cannot go on.
			s.log.Warn("IMAP fetch: message unreadable while sent", "uid", m.UID, "err", err)
			return errors.Join(errFatal, err)
		}
	}
	if req.rfc822 && whole == nil {
		item("RFC822").literal(msg.Raw(), false)
	}
	for _, sec := range req.sections {
		if whole == nil {
			item(sectionName(sec)).literal(msg.Section(sec), false)
		}
	}
	for i, b := range req.binary {
		name := "BINARY[" + partString(b.Part) + "]"
		if b.Partial != nil {
			name += "<" + strconv.FormatInt(b.Partial.Offset, 10) + ">"
		}
		item(name).literal(binaries[i], bytes.IndexByte(binaries[i], 0) >= 0)
	}
	for i, p := range req.binarySize {
		item("BINARY.SIZE[" + partString(p) + "]").n64(int64(binSizes[i]))
	}
	w.s(")\r\n")
	return nil
}

// unreadable is the answer for a message whose body cannot be read.
func (s *session) unreadable(m *mailstore.MessageMeta, err error) error {
	s.log.Warn("IMAP fetch: message unreadable", "uid", m.UID, "err", err)
	if errors.Is(err, mailstore.ErrBodyCorrupt) {
		return noErr("CORRUPTION", "Message "+itoa32(m.UID)+" is damaged on the server and cannot be read")
	}
	if errors.Is(err, mailstore.ErrBodyLocked) {
		return lockedErr(m.UID)
	}
	if errors.Is(err, mailstore.ErrBodyNoKey) {
		return noErr("UNAVAILABLE", "Message "+itoa32(m.UID)+" is encrypted at rest and the server has no key to read it (YUBIN_ENCRYPTION_KEY_FILE)")
	}
	return noErr("UNAVAILABLE", "Message "+itoa32(m.UID)+" cannot be read now")
}

// maxMessageRead bounds a message read into memory for FETCH.
const maxMessageRead = 1 << 30

// readMessage reads a message's bytes.
func (s *session) readMessage(m *mailstore.MessageMeta, req *fetchRequest) ([]byte, error) {
	rc, err := s.openBody(m, req)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return readWhole(rc, m.Size, nil)
}

// readWhole reads all of rc, which should hold size bytes, into buf if it
// is large enough, or into a new slice. The one byte of room beyond size
// lets the read that finds the end fit without growing the slice.
func readWhole(rc io.Reader, size int64, buf []byte) ([]byte, error) {
	if size > maxMessageRead {
		return nil, fmt.Errorf("message of %d bytes too large to serve", size)
	}
	if int64(cap(buf)) < size+1 {
		buf = make([]byte, 0, size+1)
	}
	data := buf[:0]
	for {
		if len(data) == cap(data) {
			if len(data) >= maxMessageRead {
				return nil, fmt.Errorf("message larger than %d bytes: too large to serve", maxMessageRead)
			}
			data = append(data, 0)[:len(data)] // longer than its size said
		}
		n, err := rc.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read message: %w", err)
		}
	}
}

// wholeBody is the bytes of a message for a FETCH of all of them, sent as
// stored: from memory or, for a plaintext file, as read (sendfile on a
// plain socket). A body whose reads could still fail for damage (a large
// sealed body, which authenticates chunk by chunk as it is read; it does
// not implement io.WriterTo, see mailstore.Blob) is read whole first, so
// that damage gives NO before anything is sent.
type wholeBody struct {
	rc   io.ReadCloser
	r    io.Reader // rc, or the bytes read from it
	size int64
}

// sizedReader is a body reader that knows its size (mailstore.Blob).
type sizedReader interface {
	io.ReadCloser
	Size() int64
}

// openWhole opens m's bytes for a whole-message FETCH item.
func (s *session) openWhole(m *mailstore.MessageMeta, req *fetchRequest) (*wholeBody, error) {
	rc, err := s.openBody(m, req)
	if err != nil {
		return nil, err
	}
	wb := &req.whole
	*wb = wholeBody{rc: rc, r: rc}
	sr, sized := rc.(sizedReader)
	_, streams := rc.(io.WriterTo)
	if sized && streams {
		wb.size = sr.Size()
		return wb, nil
	}
	data, err := readWhole(rc, m.Size, req.scratch)
	if err != nil {
		rc.Close()
		return nil, err
	}
	req.scratch = data
	wb.r, wb.size = bytes.NewReader(data), int64(len(data))
	return wb, nil
}

// writeTo writes the body as a literal to w.
func (b *wholeBody) writeTo(w *writer) error {
	return w.literalFrom(b.r, b.size)
}

// Close closes the body.
func (b *wholeBody) Close() error { return b.rc.Close() }

// applyPartial cuts the <offset.count> range out of b.
func applyPartial(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	n := int64(len(b))
	if p.Offset >= n {
		return nil
	}
	end := n
	if p.Size < n-p.Offset {
		end = p.Offset + p.Size
	}
	return b[p.Offset:end]
}
