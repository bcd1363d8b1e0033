package imapserver

import (
	"context"
	"errors"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

const delim = string(mailstore.Delimiter)

// systemFlags are the flags every mailbox announces; keywords in use are
// added to them.
var systemFlags = []string{`\Answered`, `\Flagged`, `\Deleted`, `\Seen`, `\Draft`}

// mailboxName reads a mailbox name: modified UTF-7 unless the client
// enabled UTF-8; any spelling of INBOX is INBOX.
func (s *session) mailboxName() (string, error) {
	raw, err := s.r.astring("a mailbox name")
	if err != nil {
		return "", err
	}
	return s.decodeName(raw, false)
}

// spMailbox reads a space and a mailbox name.
func (s *session) spMailbox() (string, error) {
	if err := s.r.sp(); err != nil {
		return "", err
	}
	return s.mailboxName()
}

// decodeName decodes a name or pattern from the wire.
func (s *session) decodeName(raw string, pattern bool) (string, error) {
	name := raw
	if !s.utf8 {
		var err error
		if name, err = decodeUTF7(raw); err != nil {
			// Modified UTF-7 is 7-bit: a name with valid 8-bit UTF-8 in
			// it can only be UTF-8, as clients that see IMAP4rev2 in the
			// capabilities send it without ENABLE (go-imap's client).
			if !isUTF8Name(raw) {
				return "", badf("Invalid mailbox name %q: not modified UTF-7 (RFC 3501 §5.1.3)", strings.ToValidUTF8(raw, "?"))
			}
			name = raw
		}
	}
	if !pattern {
		if strings.EqualFold(name, mailstore.Inbox) {
			return mailstore.Inbox, nil
		}
		if len(name) > len(mailstore.Inbox) && strings.EqualFold(name[:len(mailstore.Inbox)+1], mailstore.Inbox+delim) {
			name = mailstore.Inbox + name[len(mailstore.Inbox):]
		}
	}
	return name, nil
}

// isUTF8Name reports whether raw is valid UTF-8 with at least one byte
// outside ASCII.
func isUTF8Name(raw string) bool {
	if !utf8.ValidString(raw) {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// cmdSelect runs SELECT and EXAMINE.
func (s *session) cmdSelect(c *command) error {
	name, err := s.spMailbox()
	if err != nil {
		return err
	}
	qr, err := s.selectParams()
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	if s.sel != nil {
		s.unselect()
		// RFC 9051 §6.3.2 (and RFC 7162 §3.2.11); rev1 clients ignore it.
		s.untagged("OK [CLOSED] Previous mailbox closed")
	}
	mb, err := s.acct.GetMailbox(s.ctx, name)
	if err != nil {
		return s.storeErr("select", err, "NONEXISTENT")
	}
	readOnly, err := s.selectRights(mb, c.name == "EXAMINE")
	if err != nil {
		return err
	}
	// One listing gives the view its UIDs and SELECT the flags.
	var metas []mailstore.MessageMeta
	v, err := s.srv.hub.open(s.ctx, func(ctx context.Context) ([]uint32, int64, error) {
		list, modSeq, err := s.acct.SnapshotFlags(ctx, mb.ID)
		metas = list
		uids := make([]uint32, len(list))
		for i := range list {
			uids[i] = list[i].UID
		}
		return uids, modSeq, err
	}, mb.ID, s.origin)
	if err != nil {
		return s.storeErr("select", err, "NONEXISTENT")
	}
	sel := &selection{mailbox: mb, view: v, readOnly: readOnly, keywords: map[string]bool{}, recent: map[uint32]bool{}}
	s.sel, s.state = sel, stateSelected
	s.notifyWatchView()
	s.claimRecent(v.uids)
	byUID := make(map[uint32]*mailstore.MessageMeta, len(metas))
	for i := range metas {
		byUID[metas[i].UID] = &metas[i]
		for _, f := range metas[i].Flags {
			if !strings.HasPrefix(f, `\`) {
				sel.keywords[f] = true
			}
		}
	}
	var firstUnseen uint32
	for i, uid := range v.uids {
		if m := byUID[uid]; m != nil && !m.HasFlag(`\Seen`) {
			firstUnseen = uint32(i + 1)
			break
		}
	}
	s.writeFlags()
	s.w.s("* ").n(uint32(len(v.uids))).s(" EXISTS\r\n")
	if !s.rev2 {
		s.w.s("* ").n(uint32(len(sel.recent))).s(" RECENT\r\n")
		if firstUnseen > 0 {
			s.w.s("* OK [UNSEEN ").n(firstUnseen).s("] First unseen message\r\n")
		}
	}
	uidNext := max(mb.UIDNext, v.lastUID()+1)
	s.w.s("* OK [UIDVALIDITY ").n(mb.UIDValidity).s("] UIDs valid\r\n")
	s.w.s("* OK [UIDNEXT ").n(uidNext).s("] Predicted next UID\r\n")
	if mb.ObjectID != "" {
		s.w.s("* OK [MAILBOXID (").s(mb.ObjectID).s(")] Ok\r\n")
	}
	if s.condstore {
		s.w.s("* OK [HIGHESTMODSEQ ").n64(v.modSeq).s("] Highest\r\n")
	}
	if qr != nil && qr.uidValidity == mb.UIDValidity {
		s.resync(qr, byUID)
	}
	if s.rev2 {
		s.w.s(`* LIST () "/" `).mailbox(mb.Name).crlf()
	}
	if sel.readOnly {
		c.okCode = "READ-ONLY"
	} else {
		c.okCode = "READ-WRITE"
	}
	c.okText = c.name + " completed"
	return nil
}

// writeFlags writes FLAGS and PERMANENTFLAGS of the selected mailbox.
func (s *session) writeFlags() {
	flags := slices.Clone(systemFlags)
	kws := make([]string, 0, len(s.sel.keywords))
	for k := range s.sel.keywords {
		kws = append(kws, k)
	}
	sort.Strings(kws)
	flags = append(flags, kws...)
	s.w.s("* FLAGS ").flags(flags).crlf()
	if s.sel.readOnly {
		s.w.s("* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n")
		return
	}
	s.w.s("* OK [PERMANENTFLAGS ").flags(s.permanentFlags(flags)).s("] Flags permitted\r\n")
}

// noteKeywords announces keywords that appear for the first time.
func (s *session) noteKeywords(flags []string) {
	if s.sel == nil {
		return
	}
	fresh := false
	for _, f := range flags {
		if !strings.HasPrefix(f, `\`) && !s.sel.keywords[f] {
			s.sel.keywords[f] = true
			fresh = true
		}
	}
	if fresh {
		s.writeFlags()
	}
}

// unselect leaves the selected mailbox.
func (s *session) unselect() {
	if s.sel == nil {
		return
	}
	s.srv.hub.close(s.sel.view)
	s.sel, s.deferred = nil, nil
	if s.state == stateSelected {
		s.state = stateAuth
	}
}

func (s *session) cmdCreate(c *command) error {
	name, err := s.spMailbox()
	if err != nil {
		return err
	}
	var use string
	if s.r.accept(' ') {
		// CREATE-SPECIAL-USE (RFC 6154 §3): (USE (\Attr ...)).
		if err := s.r.expect('(', "CREATE parameters"); err != nil {
			return err
		}
		kw, err := s.r.atom("USE")
		if err != nil || !strings.EqualFold(kw, "USE") {
			return badf("Unknown CREATE parameter")
		}
		if err := s.r.sp(); err != nil {
			return err
		}
		uses, err := s.r.flagList(false)
		if err != nil {
			return err
		}
		if err := s.r.expect(')', "the end of the CREATE parameters"); err != nil {
			return err
		}
		if len(uses) > 1 {
			return noErr("USEATTR", "Only one special use per mailbox")
		}
		if len(uses) == 1 {
			use = uses[0]
			if !slices.ContainsFunc(mailstore.SpecialUses, func(u string) bool { return strings.EqualFold(u, use) }) {
				return noErr("USEATTR", "Unsupported special use "+use)
			}
		}
	}
	if err := s.r.end(); err != nil {
		return err
	}
	name = strings.TrimSuffix(name, delim)
	canon, err := mailstore.CanonicalMailboxName(name)
	if err != nil {
		return noErr("CANNOT", "Invalid mailbox name")
	}
	if canon == mailstore.Inbox {
		return noErr("ALREADYEXISTS", "INBOX always exists")
	}
	parts := strings.Split(canon, delim)
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], delim)
		if err := s.acct.CreateMailbox(s.ctx, parent, ""); err != nil && !errors.Is(err, core.ErrExists) {
			return s.storeErr("create", err, "NONEXISTENT")
		}
	}
	if err := s.acct.CreateMailbox(s.ctx, canon, use); err != nil {
		return s.storeErr("create", err, "NONEXISTENT")
	}
	// OBJECTID (RFC 8474 §4.1): the new mailbox's MAILBOXID.
	if mb, err := s.acct.GetMailbox(s.ctx, canon); err == nil && mb.ObjectID != "" {
		c.okCode = "MAILBOXID (" + mb.ObjectID + ")"
	}
	return nil
}

func (s *session) cmdDelete(c *command) error {
	name, err := s.spMailbox()
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	if name == mailstore.Inbox {
		return noErr("CANNOT", "INBOX cannot be deleted")
	}
	boxes, err := s.acct.ListMailboxes(s.ctx)
	if err != nil {
		return s.storeErr("delete", err, "NONEXISTENT")
	}
	for _, mb := range boxes {
		if strings.HasPrefix(mb.Name, name+delim) {
			return noErr("HASCHILDREN", "Delete the mailbox's children first")
		}
		if mb.Name == name && s.sel != nil && mb.ID == s.sel.mailbox.ID {
			return noErr("INUSE", "Cannot delete the selected mailbox; unselect it first")
		}
	}
	if err := s.acct.DeleteMailbox(s.ctx, name); err != nil {
		return s.storeErr("delete", err, "NONEXISTENT")
	}
	return nil
}

func (s *session) cmdRename(c *command) error {
	from, err := s.spMailbox()
	if err != nil {
		return err
	}
	to, err := s.spMailbox()
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	to = strings.TrimSuffix(to, delim)
	if _, err := mailstore.CanonicalMailboxName(to); err != nil {
		return noErr("CANNOT", "Invalid mailbox name")
	}
	if err := s.acct.RenameMailbox(s.ctx, from, to); err != nil {
		return s.storeErr("rename", err, "NONEXISTENT")
	}
	return nil
}

func (s *session) cmdSubscribe(c *command) error {
	name, err := s.spMailbox()
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	if err := s.acct.SetSubscribed(s.ctx, name, c.name == "SUBSCRIBE"); err != nil {
		return s.storeErr(strings.ToLower(c.name), err, "NONEXISTENT")
	}
	return nil
}

func (s *session) cmdNamespace(c *command) error {
	if err := s.r.end(); err != nil {
		return err
	}
	s.untagged(namespaceLine)
	return nil
}

// statusItems are the STATUS data items served.
var statusItems = map[string]bool{"MESSAGES": true, "RECENT": true, "UIDNEXT": true, "UIDVALIDITY": true, "UNSEEN": true, "DELETED": true, "SIZE": true, "HIGHESTMODSEQ": true, "DELETED-STORAGE": true, "MAILBOXID": true}

// statusList reads "(" item *(SP item) ")".
func (r *reader) statusList() ([]string, error) {
	if err := r.expect('(', "a list of STATUS items"); err != nil {
		return nil, err
	}
	var items []string
	for {
		a, err := r.atom("a STATUS item")
		if err != nil {
			return nil, err
		}
		a = strings.ToUpper(a)
		if !statusItems[a] {
			return nil, badf("Unknown STATUS item %s", a)
		}
		if !slices.Contains(items, a) {
			items = append(items, a)
		}
		if r.accept(')') {
			return items, nil
		}
		if err := r.sp(); err != nil {
			return nil, err
		}
	}
}

func (s *session) cmdStatus(c *command) error {
	name, err := s.spMailbox()
	if err != nil {
		return err
	}
	if err := s.r.sp(); err != nil {
		return err
	}
	items, err := s.r.statusList()
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	if slices.Contains(items, "HIGHESTMODSEQ") {
		s.enableCondstore()
	}
	mb, err := s.acct.GetMailbox(s.ctx, name)
	if err != nil {
		return s.storeErr("status", err, "NONEXISTENT")
	}
	return s.writeStatus(mb, items)
}

// writeStatus writes the STATUS response of mb.
func (s *session) writeStatus(mb *mailstore.Mailbox, items []string) error {
	st, err := s.acct.Status(s.ctx, mb.ID)
	if err != nil {
		return s.storeErr("status", err, "NONEXISTENT")
	}
	// RECENT: the messages no session was told about yet.
	var recent uint32
	if from := s.srv.hub.recentFrom(mb.ID); from > 0 && slices.Contains(items, "RECENT") {
		uids, _, err := s.srv.opts.Backend.Snapshot(s.ctx, mb.ID)
		if err != nil {
			return s.storeErr("status", err, "NONEXISTENT")
		}
		i, _ := slices.BinarySearch(uids, from)
		recent = uint32(len(uids) - i)
	}
	// DELETED-STORAGE (RFC 9208 §4.2.3): what expunging the \Deleted
	// messages would free, in units of 1024 octets.
	var deletedStorage int64
	if slices.Contains(items, "DELETED-STORAGE") && st.Deleted > 0 {
		metas, err := s.acct.ListMessages(s.ctx, mb.ID, nil)
		if err != nil {
			return s.storeErr("status", err, "NONEXISTENT")
		}
		for i := range metas {
			if metas[i].HasFlag(`\Deleted`) {
				deletedStorage += metas[i].Size
			}
		}
		deletedStorage = (deletedStorage + 1023) / 1024
	}
	s.w.s("* STATUS ").mailbox(mb.Name).s(" (")
	for i, it := range items {
		if i > 0 {
			s.w.sp()
		}
		s.w.s(it).sp()
		switch it {
		case "MESSAGES":
			s.w.n(st.Messages)
		case "RECENT":
			s.w.n(recent)
		case "UIDNEXT":
			s.w.n(st.UIDNext)
		case "UIDVALIDITY":
			s.w.n(st.UIDValidity)
		case "UNSEEN":
			s.w.n(st.Unseen)
		case "DELETED":
			s.w.n(st.Deleted)
		case "SIZE":
			s.w.n64(st.Size)
		case "HIGHESTMODSEQ":
			s.w.n64(st.HighestModSeq)
		case "DELETED-STORAGE":
			s.w.n64(deletedStorage)
		case "MAILBOXID":
			s.w.c('(').s(mb.ObjectID).c(')')
		}
	}
	s.w.s(")\r\n")
	return nil
}

// cmdAppend runs APPEND, with several messages (MULTIAPPEND, RFC 3502)
// all or none: each message streams from the connection into the store,
// byte for byte, and one transaction adds them all.
func (s *session) cmdAppend(c *command) (err error) {
	name, err := s.spMailbox()
	if err != nil {
		return err
	}
	var batch AppendTx
	defer func() {
		if err != nil && batch != nil {
			batch.Abort(s.ctx)
		}
	}()
	for i := 0; ; i++ {
		if err := s.r.sp(); err != nil {
			return err
		}
		if i >= maxMultiAppend {
			return badf("Too many messages in one APPEND (at most %d)", maxMultiAppend)
		}
		if err := s.appendOne(name, &batch); err != nil {
			return err
		}
		if s.r.atEnd() {
			break
		}
	}
	res, err := batch.Commit(s.ctx)
	batch = nil
	if err != nil {
		return s.storeErr("append", err, "TRYCREATE")
	}
	uids := make([]uint32, len(res))
	for i, r := range res {
		uids[i] = r.UID
	}
	c.okCode = "APPENDUID " + itoa32(res[0].UIDValidity) + " " + formatOrdered(uids)
	c.okText = "APPEND completed"
	return nil
}

// maxMultiAppend bounds the messages of one APPEND.
const maxMultiAppend = 1000

// appendOne reads one message of APPEND: [flags SP] [date-time SP]
// (literal | literal8 | UTF8 (literal8)), and adds it to the batch,
// which it starts with the first message.
func (s *session) appendOne(name string, batch *AppendTx) error {
	var flags []string
	var err error
	if s.r.peek() == '(' {
		if flags, err = s.r.flagList(false); err != nil {
			return err
		}
		if err := s.r.sp(); err != nil {
			return err
		}
	}
	var date time.Time
	if s.r.peek() == '"' {
		raw, err := s.r.quoted()
		if err != nil {
			return err
		}
		if date, err = time.Parse("_2-Jan-2006 15:04:05 -0700", raw); err != nil {
			return badf("Invalid date-time %q", raw)
		}
		if err := s.r.sp(); err != nil {
			return err
		}
	}
	if s.r.peekWord("CATENATE") {
		return s.appendCatenate(name, batch, flags, date)
	}
	// UTF8 (literal8): a message with UTF-8 headers (RFC 6855 §4).
	utf8Data := false
	if s.r.peekWord("UTF8") {
		if !s.utf8 {
			return badf("APPEND UTF8 needs ENABLE UTF8=ACCEPT first")
		}
		s.r.pos += len("UTF8 ")
		if err := s.r.expect('(', "a parenthesized literal8"); err != nil {
			return err
		}
		if s.r.peek() != '~' {
			return badf("APPEND UTF8 takes a literal8 (~{n})")
		}
		utf8Data = true
	}
	n, binary, sync, err := s.r.literalHeader(true)
	if err != nil {
		return err
	}
	flags = slices.DeleteFunc(flags, func(f string) bool { return strings.EqualFold(f, `\Recent`) })
	if n > int64(s.srv.opts.AppendLimit) {
		return s.r.refuse(n, sync, noErr("TOOBIG", "Message exceeds APPENDLIMIT"))
	}
	if _, err := mailstore.CanonicalFlags(flags); err != nil {
		return s.r.refuse(n, sync, badf("Invalid flag in APPEND"))
	}
	if *batch == nil {
		b, err := s.acct.NewAppend(s.ctx, name)
		if err != nil {
			return s.r.refuse(n, sync, s.storeErr("append", err, "TRYCREATE"))
		}
		*batch = b
	}
	if err := s.r.startLiteral(sync); err != nil {
		return err
	}
	body := &exactReader{r: s.br, n: n, noNUL: !binary}
	addErr := (*batch).Add(s.ctx, body, flags, date)
	if body.n > 0 {
		if _, err := io.CopyN(io.Discard, s.br, body.n); err != nil {
			return errors.Join(errFatal, err)
		}
	}
	if err := s.r.finishLiteral(); err != nil {
		return err
	}
	if errors.Is(addErr, errNULInLiteral) {
		return badf("NUL in a literal: send the message as literal8 (~{n})")
	}
	if addErr != nil {
		return s.storeErr("append", addErr, "TRYCREATE")
	}
	if utf8Data {
		if err := s.r.expect(')', "the end of the UTF8 data"); err != nil {
			return err
		}
	}
	return nil
}

func itoa32(n uint32) string { return string(appendUint(nil, n)) }

// exactReader reads exactly n bytes of a literal: the connection ending
// early is an error, never a shorter message.
type exactReader struct {
	r     io.Reader
	n     int64
	noNUL bool // a plain literal: NUL is not allowed in it (CHAR8)
}

// errNULInLiteral fails an APPEND whose plain literal holds a NUL.
var errNULInLiteral = errors.New("NUL in a literal")

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	k, err := e.r.Read(p)
	e.n -= int64(k)
	if e.noNUL && bytesHasNUL(p[:k]) {
		return k, errNULInLiteral
	}
	if err == io.EOF && e.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF && e.n == 0 {
		err = nil
	}
	return k, err
}

// qresyncParams is SELECT's QRESYNC parameter (RFC 7162 §3.2.5).
type qresyncParams struct {
	uidValidity uint32
	modSeq      int64
	knownUIDs   *numSet
}

// selectParams reads SELECT's optional "(CONDSTORE)" or
// "(QRESYNC (...))".
func (s *session) selectParams() (*qresyncParams, error) {
	if !s.r.accept(' ') {
		return nil, nil
	}
	if err := s.r.expect('(', "SELECT parameters"); err != nil {
		return nil, err
	}
	var qr *qresyncParams
	for first := true; !s.r.accept(')'); first = false {
		if !first {
			if err := s.r.sp(); err != nil {
				return nil, err
			}
		}
		name, err := s.r.atom("a SELECT parameter")
		if err != nil {
			return nil, err
		}
		switch strings.ToUpper(name) {
		case "CONDSTORE":
			s.condstore = true
		case "QRESYNC":
			if !s.qresync {
				return nil, badf("QRESYNC must be enabled first (ENABLE QRESYNC)")
			}
			if qr, err = s.r.qresyncParam(); err != nil {
				return nil, err
			}
		default:
			return nil, badf("Unknown SELECT parameter %s", name)
		}
	}
	return qr, nil
}

// qresyncParam reads " (uidvalidity modseq [known-uids [seq-match]])".
func (r *reader) qresyncParam() (*qresyncParams, error) {
	if err := r.sp(); err != nil {
		return nil, err
	}
	if err := r.expect('(', "the QRESYNC parameters"); err != nil {
		return nil, err
	}
	uv, err := r.number("a UIDVALIDITY")
	if err != nil {
		return nil, err
	}
	if err := r.sp(); err != nil {
		return nil, err
	}
	ms, err := r.number64("a mod-sequence")
	if err != nil {
		return nil, err
	}
	if uv == 0 || ms == 0 {
		return nil, badf("UIDVALIDITY and mod-sequence must not be 0")
	}
	qr := &qresyncParams{uidValidity: uv, modSeq: int64(ms)}
	if r.accept(' ') && r.peek() != '(' {
		set, err := r.numSet()
		if err != nil {
			return nil, err
		}
		if set.saved {
			return nil, badf("$ is not a set of known UIDs")
		}
		qr.knownUIDs = &set
		r.accept(' ')
	}
	if r.accept('(') {
		// The sequence match data only saves the server work; it is
		// read and not needed: the set of vanished UIDs is computed
		// from the known UIDs.
		if _, err := r.numSet(); err != nil {
			return nil, err
		}
		if err := r.sp(); err != nil {
			return nil, err
		}
		if _, err := r.numSet(); err != nil {
			return nil, err
		}
		if err := r.expect(')', "the end of the sequence match data"); err != nil {
			return nil, err
		}
	}
	if err := r.expect(')', "the end of the QRESYNC parameters"); err != nil {
		return nil, err
	}
	return qr, nil
}

// resync writes what changed since the client's mod-sequence (RFC 7162
// §3.2.5.1): VANISHED (EARLIER) for the known UIDs that are gone, and the
// flags of the messages changed since.
func (s *session) resync(qr *qresyncParams, metas map[uint32]*mailstore.MessageMeta) {
	v := s.sel.view
	known := numSet{ranges: []seqRange{{1, 0}}}
	if qr.knownUIDs != nil {
		known = *qr.knownUIDs
	}
	if gone := v.missing(known, max(s.sel.mailbox.UIDNext, v.lastUID()+1)-1); gone != "" {
		s.w.s("* VANISHED (EARLIER) ").s(gone).crlf()
	}
	for i, uid := range v.uids {
		m := metas[uid]
		if m == nil || m.ModSeq <= qr.modSeq {
			continue
		}
		s.w.s("* ").n(uint32(i + 1)).s(" FETCH (UID ").n(uid).s(" FLAGS ").flags(m.Flags).s(" MODSEQ (").n64(m.ModSeq).s("))\r\n")
	}
}
