package imapserver

import (
	"context"
	"slices"
	"sync"

	"github.com/yubinmail/yubin/mailstore"
)

// hub hands the backend's change events to the views of the sessions
// that have the changed mailbox selected. It runs in the publisher's
// step, so it only takes short locks and never blocks.
type hub struct {
	mu    sync.Mutex
	views map[int64]map[*view]struct{} // by mailbox ID
	// unclaimed holds, per mailbox that received mail since the server
	// started, the lowest UID no session has been told about yet: the
	// messages with the \Recent flag of RFC 3501 (§2.3.2) are those at or
	// above it, until a session claims them.
	unclaimed map[int64]uint32
	// interned holds, per mailbox with open views, one UID list that
	// views at the same MODSEQ share instead of a copy each: with a
	// large mailbox the list is most of an idle session's memory.
	interned map[int64]internedUIDs
	// watchers are the NOTIFY queues (RFC 5465) of sessions, by user ID:
	// they get every change of the user's mail (see notify.go).
	watchers map[int64]map[*notifyQueue]struct{}
}

// internedUIDs is a shared, never modified, UID list of a mailbox at a
// MODSEQ.
type internedUIDs struct {
	modSeq int64
	uids   []uint32
}

func newHub() *hub {
	return &hub{views: map[int64]map[*view]struct{}{}, unclaimed: map[int64]uint32{}, interned: map[int64]internedUIDs{},
		watchers: map[int64]map[*notifyQueue]struct{}{}}
}

// share makes v use the interned UID list of its mailbox if it is at the
// same MODSEQ, or interns its own list if it is newer. v's list must
// reflect every change up to v.modSeq.
func (h *hub) share(v *view) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.interned[v.mailboxID]
	switch {
	case ok && e.modSeq == v.modSeq:
		v.uids, v.shared = e.uids, true
	case !ok || e.modSeq < v.modSeq:
		h.interned[v.mailboxID] = internedUIDs{modSeq: v.modSeq, uids: v.uids}
		v.shared = true
	}
}

// claimRecent returns which of uids (ascending) are recent for a session
// now seeing them; with claim the session takes them, so that no other
// session sees them as recent (SELECT and updates do, EXAMINE does not).
func (h *hub) claimRecent(mailboxID int64, uids []uint32, claim bool) []uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	from, ok := h.unclaimed[mailboxID]
	if !ok || len(uids) == 0 {
		return nil
	}
	i, _ := slices.BinarySearch(uids, from)
	recent := uids[i:]
	if claim && len(recent) > 0 {
		h.unclaimed[mailboxID] = recent[len(recent)-1] + 1
	}
	return recent
}

// recentFrom returns the lowest unclaimed UID of a mailbox, 0 if none.
func (h *hub) recentFrom(mailboxID int64) uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.unclaimed[mailboxID]
}

// onEvent queues ev for the NOTIFY queues of its user and for the views of
// its mailbox.
func (h *hub) onEvent(ev mailstore.Event) {
	if ev.Kind == mailstore.Resync {
		h.mu.Lock()
		h.resync(ev)
		h.mu.Unlock()
		return
	}
	h.notifyWatchers(ev)
	switch ev.Kind {
	case mailstore.MessagesAdded, mailstore.MessagesExpunged, mailstore.FlagsChanged:
	default:
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if ev.Kind == mailstore.MessagesAdded && len(ev.UIDs) > 0 {
		if _, ok := h.unclaimed[ev.MailboxID]; !ok {
			h.unclaimed[ev.MailboxID] = ev.UIDs[0]
		}
	}
	for v := range h.views[ev.MailboxID] {
		v.push(ev)
	}
}

// maxPendingFlags bounds the flag changes queued for a session that does
// not poll; beyond it they are dropped (the client sees the new flags
// when it next fetches them).
const maxPendingFlags = 10000

// view is one session's view of its selected mailbox: the UIDs as the
// client numbers them, and the changes it has not been told about.
type view struct {
	mailboxID int64
	origin    string
	// uids are the UIDs the client knows, ascending: uids[i] has sequence
	// number i+1. Only the session's goroutine uses it.
	uids []uint32
	// modSeq is the highest MODSEQ the view is current at.
	modSeq int64
	// shared says uids is an interned list, copied before any change.
	shared bool

	mu      sync.Mutex
	base    int64             // events at or below this MODSEQ are in the snapshot
	pending []mailstore.Event // guarded by mu
	flagEvs int               // FlagsChanged events in pending
	// wake gets a token when something was queued (IDLE waits on it).
	wake chan struct{}
	// nudge, if set, also gets a token: the session's NOTIFY deliverer.
	nudge chan struct{}
}

func (v *view) push(ev mailstore.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ev.ModSeq != 0 && ev.ModSeq <= v.base {
		return
	}
	if ev.Kind == mailstore.FlagsChanged {
		if v.flagEvs >= maxPendingFlags {
			return
		}
		v.flagEvs++
	}
	v.pending = append(v.pending, ev)
	select {
	case v.wake <- struct{}{}:
	default:
	}
	if v.nudge != nil {
		select {
		case v.nudge <- struct{}{}:
		default:
		}
	}
}

// setNudge makes the view also signal ch when something is queued.
func (v *view) setNudge(ch chan struct{}) {
	v.mu.Lock()
	v.nudge = ch
	v.mu.Unlock()
}

// take returns the queued events and empties the queue.
func (v *view) take() []mailstore.Event {
	v.mu.Lock()
	defer v.mu.Unlock()
	evs := v.pending
	v.pending, v.flagEvs = nil, 0
	return evs
}

// open starts a view of mailbox id: it registers with the hub first and
// loads the snapshot (the UIDs and the MODSEQ they are current at) with
// load after, so that no change falls between the two.
func (h *hub) open(ctx context.Context, load func(context.Context) ([]uint32, int64, error), id int64, origin string) (*view, error) {
	v := &view{mailboxID: id, origin: origin, wake: make(chan struct{}, 1), base: 1<<63 - 1}
	h.mu.Lock()
	if h.views[id] == nil {
		h.views[id] = map[*view]struct{}{}
	}
	h.views[id][v] = struct{}{}
	h.mu.Unlock()
	uids, modSeq, err := load(ctx)
	if err != nil {
		h.close(v)
		return nil, err
	}
	v.mu.Lock()
	v.uids, v.modSeq, v.base = uids, modSeq, modSeq
	// Drop what arrived before the snapshot and is in it.
	kept := v.pending[:0]
	for _, ev := range v.pending {
		if ev.ModSeq == 0 || ev.ModSeq > modSeq {
			kept = append(kept, ev)
		}
	}
	v.pending = kept
	v.mu.Unlock()
	h.share(v)
	return v, nil
}

// own gives the view a copy of its UID list of its own before a change.
func (v *view) own() {
	if v.shared {
		v.uids, v.shared = slices.Clone(v.uids), false
	}
}

// close ends the view.
func (h *hub) close(v *view) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.views[v.mailboxID], v)
	if len(h.views[v.mailboxID]) == 0 {
		delete(h.views, v.mailboxID)
		delete(h.interned, v.mailboxID)
	}
}

// seqOf returns the sequence number of uid in the view, 0 if unknown.
func (v *view) seqOf(uid uint32) uint32 {
	i, ok := slices.BinarySearch(v.uids, uid)
	if !ok {
		return 0
	}
	return uint32(i + 1)
}

// lastUID is the highest UID the client knows, 0 if none.
func (v *view) lastUID() uint32 {
	if n := len(v.uids); n > 0 {
		return v.uids[n-1]
	}
	return 0
}

// msgRef is a message as the client addresses it.
type msgRef struct {
	seq, uid uint32
}

// resolve returns the messages of set the client knows, ascending; byUID
// says whether set holds UIDs. saved substitutes "$".
func (v *view) resolve(set numSet, byUID bool, saved []uint32) []msgRef {
	var out []msgRef
	if set.saved {
		for _, uid := range saved {
			if seq := v.seqOf(uid); seq != 0 {
				out = append(out, msgRef{seq, uid})
			}
		}
		return out
	}
	n := uint32(len(v.uids))
	if byUID {
		maxUID := v.lastUID()
		for _, sr := range set.ranges {
			start, stop := sr.bounds(maxUID)
			i, _ := slices.BinarySearch(v.uids, start)
			for ; i < len(v.uids) && v.uids[i] <= stop; i++ {
				out = append(out, msgRef{uint32(i + 1), v.uids[i]})
			}
		}
	} else {
		for _, sr := range set.ranges {
			start, stop := sr.bounds(n)
			for seq := start; seq >= 1 && seq <= min(stop, n); seq++ {
				out = append(out, msgRef{seq, v.uids[seq-1]})
			}
		}
	}
	if len(set.ranges) > 1 {
		slices.SortFunc(out, func(a, b msgRef) int { return int(a.seq) - int(b.seq) })
		out = slices.CompactFunc(out, func(a, b msgRef) bool { return a.seq == b.seq })
	}
	return out
}

// refsUIDs returns the UIDs of refs as a store set.
func refsUIDs(refs []msgRef) mailstore.UIDSet {
	uids := make([]uint32, len(refs))
	for i, r := range refs {
		uids[i] = r.uid
	}
	return mailstore.UIDs(uids...)
}

// missing returns, as a sequence set, the UIDs of set (up to max, which
// "*" stands for) that are not in the view: the messages expunged, for
// VANISHED (EARLIER). Ranges keep it short however large set is.
func (v *view) missing(set numSet, max uint32) string {
	var out []uint32 // pairs of range ends
	for _, sr := range set.ranges {
		start, stop := sr.bounds(max)
		stop = min(stop, max)
		if start == 0 || start > stop {
			continue
		}
		i, _ := slices.BinarySearch(v.uids, start)
		next := start
		for ; next <= stop; i++ {
			if i >= len(v.uids) || v.uids[i] > stop {
				out = append(out, next, stop)
				break
			}
			if v.uids[i] > next {
				out = append(out, next, v.uids[i]-1)
			}
			if v.uids[i] == stop {
				break
			}
			next = v.uids[i] + 1
		}
	}
	var b []byte
	for k := 0; k+1 < len(out); k += 2 {
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = appendUint(b, out[k])
		if out[k+1] != out[k] {
			b = append(b, ':')
			b = appendUint(b, out[k+1])
		}
	}
	return string(b)
}
