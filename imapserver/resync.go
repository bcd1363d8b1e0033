package imapserver

import (
	"slices"

	"github.com/yubinmail/yubin/mailstore"
)

// Changes made on another node (several nodes on one PostgreSQL) reach the
// hub later than the node's own, and may be lost while a node's link to the
// database is down. Two things keep a session right all the same:
//
//   - a MessagesAdded event whose first UID is past the view's next one
//     makes the session look for the UIDs in between in the database (a
//     message delivered on another node just before a local one: its event
//     comes second, but a client must see UIDs ascend);
//   - mailstore.Resync makes every session reload its view from the
//     database and report the difference as if the events had come, and
//     ends NOTIFY (RFC 5465 §5.8: NOTIFICATIONOVERFLOW), which cannot know
//     what it missed.

// resync queues a Resync for every view and overflows every NOTIFY queue;
// the caller holds h.mu.
func (h *hub) resync(ev mailstore.Event) {
	for _, views := range h.views {
		for v := range views {
			v.push(ev)
		}
	}
	for _, qs := range h.watchers {
		for q := range qs {
			q.lose()
		}
	}
}

// lose drops the queued changes: the session reports NOTIFICATIONOVERFLOW.
func (q *notifyQueue) lose() {
	q.mu.Lock()
	q.overflow, q.evs = true, nil
	q.mu.Unlock()
	select {
	case q.nudge <- struct{}{}:
	default:
	}
}

// expandResync replaces the events up to the last Resync in evs with the
// changes between the view and the mailbox in the database now: expunged
// messages, new ones, and those whose flags changed since the view's
// MODSEQ.
func (s *session) expandResync(evs []mailstore.Event) []mailstore.Event {
	last := -1
	for i, ev := range evs {
		if ev.Kind == mailstore.Resync {
			last = i
		}
	}
	if last < 0 {
		return evs
	}
	rest := evs[last+1:]
	v := s.sel.view
	uids, modSeq, err := s.srv.opts.Backend.Snapshot(s.ctx, v.mailboxID)
	if err != nil {
		s.log.Warn("resync: reload the mailbox", "err", err)
		return rest
	}
	var gone []uint32
	for _, uid := range v.uids {
		if _, ok := slices.BinarySearch(uids, uid); !ok {
			gone = append(gone, uid)
		}
	}
	var out []mailstore.Event
	if len(gone) > 0 {
		out = append(out, mailstore.Event{Kind: mailstore.MessagesExpunged, MailboxID: v.mailboxID, ModSeq: modSeq, UIDs: gone})
	}
	if i, _ := slices.BinarySearch(uids, v.lastUID()+1); i < len(uids) {
		out = append(out, mailstore.Event{Kind: mailstore.MessagesAdded, MailboxID: v.mailboxID, ModSeq: modSeq, UIDs: slices.Clone(uids[i:])})
	}
	if len(v.uids) > 0 {
		metas, err := s.acct.ListMessages(s.ctx, v.mailboxID, mailstore.UIDSet{{Start: v.uids[0], Stop: v.lastUID()}})
		if err != nil {
			s.log.Warn("resync: read the flags", "err", err)
		}
		var changed []uint32
		for _, m := range metas {
			if m.ModSeq > v.modSeq {
				changed = append(changed, m.UID)
			}
		}
		if len(changed) > 0 {
			// No user and no flags: the session reads them as its user sees them.
			out = append(out, mailstore.Event{Kind: mailstore.FlagsChanged, MailboxID: v.mailboxID, ModSeq: modSeq, UIDs: changed})
		}
	}
	return append(out, rest...)
}

// fillGap returns uids (a MessagesAdded event's, ascending) with the UIDs
// of the mailbox between the view's last one and uids[0] in front: those
// of messages added on another node whose event has not come yet.
func (s *session) fillGap(uids []uint32) []uint32 {
	v := s.sel.view
	if len(uids) == 0 || uids[0] <= v.lastUID()+1 {
		return uids
	}
	metas, err := s.acct.ListMessages(s.ctx, v.mailboxID, mailstore.UIDSet{{Start: v.lastUID() + 1, Stop: uids[0] - 1}})
	if err != nil {
		s.log.Warn("new messages: look for earlier ones", "err", err)
		return uids
	}
	if len(metas) == 0 {
		return uids
	}
	out := make([]uint32, 0, len(metas)+len(uids))
	for _, m := range metas {
		out = append(out, m.UID)
	}
	return append(out, uids...)
}
