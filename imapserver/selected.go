package imapserver

import (
	"cmp"
	"errors"
	"slices"
	"strings"

	"github.com/yubinmail/yubin/mailstore"
)

// errReadOnly answers commands that would change a mailbox opened with
// EXAMINE.
var errReadOnly = noErr("READ-ONLY", "Mailbox is read-only (EXAMINE)")

// poll writes the changes the client has not seen yet: new messages
// (EXISTS), flag changes by others (FETCH FLAGS) and, when allowed,
// expunges.
func (s *session) poll(allowExpunge bool) {
	s.pollWith(pollOpts{allowExpunge: allowExpunge, fetchNew: s.notifyFetch()})
}

// pollOpts says what a poll may report.
type pollOpts struct {
	allowExpunge bool
	// holdFlags keeps flag changes for a later poll (NOTIFY without
	// FlagChange for the selected mailbox, RFC 5465 §5.2).
	holdFlags bool
	// fetchNew, if set, is fetched for each new message after EXISTS
	// (NOTIFY MessageNew with fetch attributes, RFC 5465 §5.2).
	fetchNew *fetchRequest
}

// pollWith writes the changes the client has not seen yet, as o allows.
func (s *session) pollWith(o pollOpts) {
	allowExpunge := o.allowExpunge
	if s.sel == nil {
		return
	}
	v := s.sel.view
	evs := v.take()
	if len(s.deferred) > 0 {
		evs = append(s.deferred, evs...)
		s.deferred = nil
	}
	if len(evs) == 0 {
		return
	}
	evs = s.expandResync(evs)
	added := 0
	var ch contextChanges
	exists := func() {
		if added > 0 {
			ch.added = append(ch.added, v.uids[len(v.uids)-added:]...)
			s.w.s("* ").n(uint32(len(v.uids))).s(" EXISTS\r\n")
			if !s.rev2 {
				s.claimRecent(v.uids[len(v.uids)-added:])
				s.w.s("* ").n(uint32(len(s.sel.recent))).s(" RECENT\r\n")
			}
			added = 0
		}
	}
	latest := lastFlagChanges(evs, s.acct.ID())
	var superseded map[uint32]bool // UIDs of others' changes held back for a later one
	for i, ev := range evs {
		switch ev.Kind {
		case mailstore.MessagesAdded:
			for _, uid := range s.fillGap(ev.UIDs) {
				if uid > v.lastUID() {
					v.own()
					v.uids = append(v.uids, uid)
					added++
					if ev.Origin == s.origin {
						ch.own = append(ch.own, uid)
					}
				}
			}
		case mailstore.MessagesExpunged:
			if !allowExpunge {
				s.deferred = append(s.deferred, ev)
				continue
			}
			exists()
			s.removeExpunged(ev.UIDs)
			var vanished []uint32
			for _, uid := range ev.UIDs {
				seq := v.seqOf(uid)
				if seq == 0 {
					continue
				}
				v.own()
				v.uids = append(v.uids[:seq-1], v.uids[seq:]...)
				delete(s.sel.recent, uid)
				if s.qresync {
					vanished = append(vanished, uid)
				} else {
					s.w.s("* ").n(seq).s(" EXPUNGE\r\n")
				}
			}
			if len(vanished) > 0 {
				s.w.s("* VANISHED ").s(formatUIDs(vanished)).crlf()
			}
		case mailstore.FlagsChanged:
			if o.holdFlags {
				s.deferred = append(s.deferred, ev)
				continue
			}
			if ev.SeenUser != 0 && ev.SeenUser != s.acct.ID() {
				break // another user's private \Seen
			}
			ch.flagged = append(ch.flagged, ev.UIDs...)
			if ev.Origin == s.origin {
				// The session answered its own STORE itself, except for
				// messages whose change by another session it held back
				// below: their flags, as they are now, are still owed.
				if superseded == nil {
					break
				}
				owed := filterUIDs(ev, func(uid uint32) bool { return superseded[uid] && latest[uid] == i })
				if len(owed.UIDs) > 0 {
					exists()
					s.writeFlagChanges(owed)
				}
				break
			}
			// A message changed again later in this batch is reported by
			// that later change: these flags are no longer its flags.
			current := ev
			if latest != nil {
				current = filterUIDs(ev, func(uid uint32) bool {
					if latest[uid] > i {
						if superseded == nil {
							superseded = map[uint32]bool{}
						}
						superseded[uid] = true
						return false
					}
					return true
				})
			}
			if len(current.UIDs) > 0 {
				exists()
				s.writeFlagChanges(current)
			}
		}
		if ev.ModSeq > v.modSeq {
			v.modSeq = ev.ModSeq
		}
	}
	exists()
	if o.fetchNew != nil && len(ch.added) > 0 {
		s.fetchNotified(ch.added, ch.own, o.fetchNew)
	}
	s.updateContexts(&ch)
	if len(s.deferred) == 0 {
		s.srv.hub.share(v)
	}
}

// lastFlagChanges maps each UID that more than one FlagsChanged event of
// evs names to the index of the last of them; nil when no UID is named
// twice (the usual case). Another user's private \Seen changes (not
// userID's) do not count: the session does not report them.
func lastFlagChanges(evs []mailstore.Event, userID int64) map[uint32]int {
	var seen, latest map[uint32]int
	for i, ev := range evs {
		if ev.Kind != mailstore.FlagsChanged || ev.SeenUser != 0 && ev.SeenUser != userID {
			continue
		}
		if seen == nil {
			seen = map[uint32]int{}
		}
		for _, uid := range ev.UIDs {
			if _, ok := seen[uid]; ok {
				if latest == nil {
					latest = map[uint32]int{}
				}
				latest[uid] = i
			}
			seen[uid] = i
		}
	}
	return latest
}

// filterUIDs returns ev with only the UIDs (and their flags) keep accepts.
func filterUIDs(ev mailstore.Event, keep func(uint32) bool) mailstore.Event {
	out := ev
	out.UIDs, out.Flags = nil, nil
	for k, uid := range ev.UIDs {
		if !keep(uid) {
			continue
		}
		out.UIDs = append(out.UIDs, uid)
		if k < len(ev.Flags) {
			out.Flags = append(out.Flags, ev.Flags[k])
		}
	}
	return out
}

// writeFlagChanges writes the FETCH FLAGS of a FlagsChanged event. The
// flags of another user's mailbox are read again as the user sees them:
// the event carries the owner's \Seen, which may not be the user's
// (private \Seen, mailstore/seen.go).
func (s *session) writeFlagChanges(ev mailstore.Event) {
	v := s.sel.view
	flags, modSeqs := ev.Flags, []int64(nil)
	if ev.UserID != s.acct.ID() && ev.SeenUser != s.acct.ID() {
		metas, err := s.acct.ListMessages(s.ctx, s.sel.mailbox.ID, mailstore.UIDs(ev.UIDs...))
		if err != nil {
			s.log.Warn("flag changes: read the flags", "err", err)
			return
		}
		flags, modSeqs = make([][]string, len(ev.UIDs)), make([]int64, len(ev.UIDs))
		for k, uid := range ev.UIDs {
			i, ok := slices.BinarySearchFunc(metas, uid, func(m mailstore.MessageMeta, uid uint32) int { return cmp.Compare(m.UID, uid) })
			if ok {
				flags[k], modSeqs[k] = metas[i].Flags, metas[i].ModSeq
			}
		}
	}
	for k, uid := range ev.UIDs {
		seq := v.seqOf(uid)
		if seq == 0 || k >= len(flags) || (modSeqs != nil && modSeqs[k] == 0) {
			continue
		}
		s.noteKeywords(flags[k])
		s.w.s("* ").n(seq).s(" FETCH (UID ").n(uid).s(" FLAGS ").flags(s.withRecent(uid, flags[k]))
		if s.condstore {
			modSeq := ev.ModSeq
			if modSeqs != nil {
				modSeq = modSeqs[k]
			}
			s.w.s(" MODSEQ (").n64(modSeq).c(')')
		}
		s.w.s(")\r\n")
	}
}

// cmdClose runs CLOSE (expunging silently) and UNSELECT.
func (s *session) cmdClose(c *command) error {
	if err := s.r.end(); err != nil {
		return err
	}
	if c.name == "CLOSE" && !s.sel.readOnly && s.selectedMay("e") {
		if _, err := s.acct.Expunge(s.ctx, s.sel.mailbox.ID, nil); err != nil {
			return s.storeErr("expunge", err, "NONEXISTENT")
		}
	}
	s.unselect()
	return nil
}

func (s *session) cmdExpunge(c *command) error {
	var set mailstore.UIDSet
	if c.uid {
		ns, err := s.r.spNumSet()
		if err != nil {
			return err
		}
		if err := s.r.end(); err != nil {
			return err
		}
		refs := s.sel.view.resolve(ns, true, s.sel.saved)
		if len(refs) == 0 {
			return nil
		}
		set = refsUIDs(refs)
	} else if err := s.r.end(); err != nil {
		return err
	}
	if s.sel.readOnly {
		return errReadOnly
	}
	if _, err := s.acct.Expunge(s.ctx, s.sel.mailbox.ID, set); err != nil {
		return s.storeErr("expunge", err, "NONEXISTENT")
	}
	return nil
}

// cmdStore runs STORE and UID STORE.
func (s *session) cmdStore(c *command) error {
	ns, err := s.r.spNumSet()
	if err != nil {
		return err
	}
	if err := s.r.sp(); err != nil {
		return err
	}
	unchangedSince := int64(-1)
	if s.r.accept('(') {
		// (UNCHANGEDSINCE n), RFC 7162 §3.1.3.
		kw, err := s.r.atom("UNCHANGEDSINCE")
		if err != nil || !strings.EqualFold(kw, "UNCHANGEDSINCE") {
			return badf("Unknown STORE modifier")
		}
		if err := s.r.sp(); err != nil {
			return err
		}
		n, err := s.r.number64("a mod-sequence")
		if err != nil {
			return err
		}
		if err := s.r.expect(')', "the end of the STORE modifiers"); err != nil {
			return err
		}
		if err := s.r.sp(); err != nil {
			return err
		}
		unchangedSince = int64(n)
		s.enableCondstore()
	}
	item, err := s.r.atomWith("a STORE item", "")
	if err != nil {
		return err
	}
	item = strings.ToUpper(item)
	var op mailstore.FlagOp
	switch strings.TrimSuffix(item, ".SILENT") {
	case "FLAGS":
		op = mailstore.FlagsSet
	case "+FLAGS":
		op = mailstore.FlagsAdd
	case "-FLAGS":
		op = mailstore.FlagsRemove
	default:
		return badf("Unknown STORE item %s", item)
	}
	silent := strings.HasSuffix(item, ".SILENT")
	if err := s.r.sp(); err != nil {
		return err
	}
	flags, err := s.r.flagList(true)
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	if s.sel.readOnly {
		return errReadOnly
	}
	list := flags[:0]
	for _, f := range flags {
		if strings.EqualFold(f, `\Recent`) {
			continue
		}
		if f == `\*` {
			return badf(`\* is not a flag`)
		}
		list = append(list, f)
	}
	if _, err := mailstore.CanonicalFlags(list); err != nil {
		return badf("Invalid flag in STORE")
	}
	refs := s.sel.view.resolve(ns, c.uid, s.sel.saved)
	if len(refs) == 0 {
		return nil
	}
	ups, modified, err := s.acct.StoreFlags(s.ctx, s.sel.mailbox.ID, refsUIDs(refs), op, list, unchangedSince)
	if err != nil {
		return s.storeErr("store", err, "NONEXISTENT")
	}
	for _, u := range ups {
		s.noteKeywords(u.Flags)
	}
	gone := len(ups)+len(modified) < len(refs)
	for _, u := range ups {
		// With CONDSTORE a changed message is reported with its MODSEQ
		// even with .SILENT (RFC 7162 §3.2).
		if silent && !(s.condstore && u.Changed) {
			continue
		}
		seq := s.sel.view.seqOf(u.UID)
		if seq == 0 {
			continue
		}
		s.w.s("* ").n(seq).s(" FETCH (")
		if c.uid {
			s.w.s("UID ").n(u.UID).sp()
		}
		if !silent {
			s.w.s("FLAGS ").flags(s.withRecent(u.UID, u.Flags))
			if s.condstore {
				s.w.sp()
			}
		}
		if s.condstore {
			s.w.s("MODSEQ (").n64(u.ModSeq).c(')')
		}
		s.w.s(")\r\n")
	}
	if len(modified) > 0 {
		nums := modified
		if !c.uid {
			nums = make([]uint32, 0, len(modified))
			for _, uid := range modified {
				if seq := s.sel.view.seqOf(uid); seq != 0 {
					nums = append(nums, seq)
				}
			}
		}
		c.okCode = "MODIFIED " + formatUIDs(nums)
		c.okText = "Conditional STORE failed for some messages"
	}
	if gone {
		return noErr("EXPUNGEISSUED", "Some of the messages were expunged meanwhile")
	}
	return nil
}

// cmdCopy runs COPY and MOVE and their UID forms.
func (s *session) cmdCopy(c *command) error {
	ns, err := s.r.spNumSet()
	if err != nil {
		return err
	}
	dest, err := s.spMailbox()
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	move := c.name == "MOVE"
	if move && s.sel.readOnly {
		return errReadOnly
	}
	refs := s.sel.view.resolve(ns, c.uid, s.sel.saved)
	if len(refs) == 0 {
		if _, err := s.acct.GetMailbox(s.ctx, dest); err != nil {
			return s.storeErr(strings.ToLower(c.name), err, "TRYCREATE")
		}
		return nil
	}
	res, err := s.acct.CopyMessages(s.ctx, s.sel.mailbox.ID, refsUIDs(refs), dest, move)
	if err != nil {
		return s.storeErr(strings.ToLower(c.name), err, "TRYCREATE")
	}
	s.notifyMove(dest, res)
	if len(res.DestUIDs) == 0 {
		return noErr("EXPUNGEISSUED", "The messages were expunged meanwhile")
	}
	code := "COPYUID " + itoa32(res.UIDValidity) + " " + formatOrdered(res.SourceUIDs) + " " + formatOrdered(res.DestUIDs)
	if move {
		s.w.s("* OK [").s(code).s("] Moved\r\n")
	} else {
		c.okCode = code
	}
	if len(res.SourceUIDs) < len(refs) {
		return noErr("EXPUNGEISSUED", "Some of the messages were expunged meanwhile")
	}
	return nil
}

// cmdIdle runs IDLE (RFC 2177): changes go out as they happen until the
// client sends DONE.
func (s *session) cmdIdle(c *command) error {
	if err := s.r.end(); err != nil {
		return err
	}
	s.poll(true)
	s.w.s("+ idling\r\n")
	if err := s.flush(); err != nil {
		return errors.Join(errFatal, err)
	}
	read := make(chan error, 1)
	go func() { read <- s.r.readLine() }()
	var wake chan struct{}
	if s.sel != nil {
		wake = s.sel.view.wake
	}
	// Let bye (Shutdown) in while waiting.
	s.wmu.Unlock()
	defer s.wmu.Lock()
	for {
		select {
		case <-wake:
			s.wmu.Lock()
			s.poll(true)
			err := s.flush()
			s.wmu.Unlock()
			if err != nil {
				<-read
				return errors.Join(errFatal, err)
			}
		case err := <-read:
			if err != nil && !errors.Is(err, errLineTooLong) {
				return err
			}
			if err != nil || !strings.EqualFold(string(s.r.line), "DONE") {
				s.r.line, s.r.pos = s.r.line[:0], 0
				return badf("Expected DONE to end IDLE")
			}
			s.r.pos = len(s.r.line)
			return nil
		}
	}
}

// notifyMove calls Options.OnMove for a finished COPY or MOVE to dest if
// it is a junk decision.
func (s *session) notifyMove(dest string, res *mailstore.CopyResult) {
	hook := s.srv.opts.OnMove
	if hook == nil || res == nil || len(res.DestUIDs) == 0 || s.sel == nil {
		return
	}
	from := s.sel.mailbox
	to, err := s.acct.GetMailbox(s.ctx, dest)
	if err != nil {
		s.log.Warn("junk training: look up the destination", "mailbox", dest, "err", err)
		return
	}
	spam, ok := junkVerdict(from, to)
	if !ok {
		return
	}
	msgs, err := s.acct.ListMessages(s.ctx, to.ID, mailstore.UIDs(res.DestUIDs...))
	if err != nil {
		s.log.Warn("junk training: list the messages", "mailbox", to.Name, "err", err)
		return
	}
	if len(msgs) == 0 {
		return
	}
	fromCopy, toCopy := *from, *to
	hook(s.ctx, s.acct.ID(), &fromCopy, &toCopy, msgs, spam)
}

// junkVerdict tells whether copying or moving messages from one mailbox to
// another is a junk decision: into \Junk is spam, out of \Junk into any
// mailbox but \Trash is ham.
func junkVerdict(from, to *mailstore.Mailbox) (spam, ok bool) {
	if from == nil || to == nil || from.ID == to.ID {
		return false, false
	}
	fromJunk, toJunk := from.SpecialUse == `\Junk`, to.SpecialUse == `\Junk`
	switch {
	case toJunk && !fromJunk:
		return true, true
	case fromJunk && !toJunk && to.SpecialUse != `\Trash`:
		return false, true
	}
	return false, false
}
