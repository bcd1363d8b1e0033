package imap

import (
	"github.com/yubinmail/yubin/mailstore"
)

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

// notifyMove calls Options.OnMove for a finished COPY or MOVE to dest if
// it is a junk decision. Failures to look the messages up are logged: the
// command itself succeeded.
func (s *session) notifyMove(dest string, res *mailstore.CopyResult) {
	hook := s.srv.opts.OnMove
	if hook == nil || res == nil || len(res.DestUIDs) == 0 || s.mailbox == nil {
		return
	}
	from := s.mailbox
	to, err := s.srv.opts.Store.GetMailbox(s.ctx, s.user.ID, dest)
	if err != nil {
		s.log.Warn("junk training: look up the destination", "mailbox", dest, "err", err)
		return
	}
	spam, ok := junkVerdict(from, to)
	if !ok {
		return
	}
	msgs, err := s.srv.opts.Store.ListMessages(s.ctx, to.ID, mailstore.UIDs(res.DestUIDs...))
	if err != nil {
		s.log.Warn("junk training: list the messages", "mailbox", to.Name, "err", err)
		return
	}
	if len(msgs) == 0 {
		return
	}
	fromCopy, toCopy := *from, *to
	hook(s.ctx, s.user.ID, &fromCopy, &toCopy, msgs, spam)
}
