package imap

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/yubinmail/yubin/mailstore"
)

// hub keeps the current state of every mailbox some session has selected:
// its UIDs in order, and the imapserver.MailboxTracker that queues the
// changes for each session. It learns of changes from the mailstore's
// notifier, which publishes them right after each commit, in commit order.
type hub struct {
	store *mailstore.Store
	log   *slog.Logger

	mu    sync.Mutex
	boxes map[int64]*box
}

// box is the tracked state of one mailbox.
type box struct {
	id     int64
	refs   int           // views open on it; guarded by hub.mu
	loaded chan struct{} // closed once the snapshot is loaded (or failed)
	err    error         // the loading error, set before loaded is closed

	mu      sync.Mutex
	ready   bool
	pending []mailstore.Event // events that arrived while loading
	uids    []uint32          // the current UIDs, ascending: uids[i] has sequence number i+1
	modSeq  int64             // the MODSEQ uids is current at
	tracker *imapserver.MailboxTracker
	// origins maps a session's origin tag to its view, so that flag
	// changes a session made are not reported back to it as unsolicited
	// FETCH responses: it answers its own STORE itself. It also lists the
	// views to wake up when something is queued.
	origins map[string]*view
}

func newHub(store *mailstore.Store, log *slog.Logger) *hub {
	return &hub{store: store, log: log, boxes: map[int64]*box{}}
}

// start subscribes the hub to the store's events; the returned func
// unsubscribes.
func (h *hub) start() func() {
	return h.store.Notifier().Subscribe(h.onEvent)
}

// onEvent applies one committed change. It runs synchronously in the
// writer's publish step, so it only takes short locks and never blocks.
func (h *hub) onEvent(ev mailstore.Event) {
	switch ev.Kind {
	case mailstore.MessagesAdded, mailstore.MessagesExpunged, mailstore.FlagsChanged:
	default:
		return
	}
	h.mu.Lock()
	b := h.boxes[ev.MailboxID]
	h.mu.Unlock()
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.ready {
		b.pending = append(b.pending, ev)
		return
	}
	b.apply(ev)
}

// apply updates the box and queues the change for its sessions. Events
// the snapshot already contains (ModSeq not above it) are skipped.
func (b *box) apply(ev mailstore.Event) {
	if ev.ModSeq != 0 && ev.ModSeq <= b.modSeq {
		return
	}
	if ev.ModSeq > b.modSeq {
		b.modSeq = ev.ModSeq
	}
	switch ev.Kind {
	case mailstore.MessagesAdded:
		for _, uid := range ev.UIDs {
			if n := len(b.uids); n == 0 || uid > b.uids[n-1] {
				b.uids = append(b.uids, uid)
				// One EXISTS per message: SessionTracker.EncodeSeqNum
				// only hides the newest message of an EXISTS update from
				// a client that has not received it yet.
				if b.tracker != nil {
					b.tracker.QueueNumMessages(uint32(len(b.uids)))
				}
			}
		}
	case mailstore.MessagesExpunged:
		for _, uid := range ev.UIDs {
			i, ok := slices.BinarySearch(b.uids, uid)
			if !ok {
				continue
			}
			b.uids = slices.Delete(b.uids, i, i+1)
			if b.tracker != nil {
				b.tracker.QueueExpunge(uint32(i + 1))
			}
		}
	case mailstore.FlagsChanged:
		if b.tracker == nil {
			return
		}
		var source *imapserver.SessionTracker
		if v := b.origins[ev.Origin]; v != nil {
			source = v.tracker
		}
		for k, uid := range ev.UIDs {
			i, ok := slices.BinarySearch(b.uids, uid)
			if !ok || k >= len(ev.Flags) {
				continue
			}
			b.tracker.QueueMessageFlags(uint32(i+1), imap.UID(uid), toIMAPFlags(ev.Flags[k]), source)
		}
	}
	for _, v := range b.origins {
		v.wakeUp()
	}
}

// view is one session's selection of a mailbox.
type view struct {
	hub     *hub
	box     *box
	tracker *imapserver.SessionTracker
	origin  string
	// wake gets a token whenever something may have been queued for the
	// session (see session.Idle).
	wake chan struct{}
}

// wakeUp tells an idling session to poll. It never blocks.
func (v *view) wakeUp() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// open starts tracking mailbox id for a session tagged origin. It returns
// the view and the number of messages the session starts with.
func (h *hub) open(ctx context.Context, id int64, origin string) (*view, uint32, error) {
	h.mu.Lock()
	b := h.boxes[id]
	load := b == nil
	if load {
		b = &box{id: id, loaded: make(chan struct{}), origins: map[string]*view{}}
		h.boxes[id] = b
	}
	b.refs++
	h.mu.Unlock()

	if load {
		uids, modSeq, err := h.store.Snapshot(ctx, id)
		b.mu.Lock()
		if err != nil {
			b.err = err
		} else {
			b.uids, b.modSeq = uids, modSeq
			for _, ev := range b.pending {
				b.apply(ev)
			}
			b.pending = nil
			b.tracker = imapserver.NewMailboxTracker(uint32(len(b.uids)))
			b.ready = true
		}
		b.mu.Unlock()
		close(b.loaded)
	} else {
		select {
		case <-b.loaded:
		case <-ctx.Done():
			h.release(b)
			return nil, 0, ctx.Err()
		}
	}
	if b.err != nil {
		h.release(b)
		return nil, 0, fmt.Errorf("track mailbox %d: %w", id, b.err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	v := &view{hub: h, box: b, tracker: b.tracker.NewSession(), origin: origin, wake: make(chan struct{}, 1)}
	b.origins[origin] = v
	return v, uint32(len(b.uids)), nil
}

// release drops one reference to b, forgetting it with the last one.
func (h *hub) release(b *box) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b.refs--
	if b.refs == 0 && h.boxes[b.id] == b {
		delete(h.boxes, b.id)
	}
}

// close ends the view.
func (v *view) close() {
	v.box.mu.Lock()
	delete(v.box.origins, v.origin)
	v.tracker.Close()
	v.box.mu.Unlock()
	v.hub.release(v.box)
}

// msgRef is a message as a session addresses it.
type msgRef struct {
	seq uint32 // the sequence number in the client's view
	uid uint32
}

// resolve returns the messages of numSet that exist now and are known to
// the client, in ascending order. A SeqSet is in the client's sequence
// numbers; a UIDSet in UIDs. saved substitutes the SEARCHRES marker.
func (v *view) resolve(numSet imap.NumSet, saved []uint32) []msgRef {
	b := v.box
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []msgRef
	switch set := numSet.(type) {
	case imap.SeqSet:
		max := v.clientMaxLocked()
		for _, r := range set {
			start, stop := r.Start, r.Stop
			if start == 0 {
				start = max
			}
			if stop == 0 {
				stop = max
			}
			if start > stop {
				start, stop = stop, start
			}
			stop = min(stop, max)
			for seq := start; seq >= 1 && seq <= stop; seq++ {
				srv := v.tracker.DecodeSeqNum(seq)
				if srv == 0 || int(srv) > len(b.uids) {
					continue
				}
				out = append(out, msgRef{seq: seq, uid: b.uids[srv-1]})
			}
		}
		slices.SortFunc(out, func(a, b msgRef) int { return int(a.seq) - int(b.seq) })
		out = slices.CompactFunc(out, func(a, b msgRef) bool { return a.seq == b.seq })
	case imap.UIDSet:
		if imap.IsSearchRes(set) {
			for _, uid := range saved {
				if i, ok := slices.BinarySearch(b.uids, uid); ok {
					if seq := v.tracker.EncodeSeqNum(uint32(i + 1)); seq != 0 {
						out = append(out, msgRef{seq: seq, uid: uid})
					}
				}
			}
			return out
		}
		var maxUID uint32
		if n := len(b.uids); n > 0 {
			maxUID = b.uids[n-1]
		}
		for i, uid := range b.uids {
			if !uidSetContains(set, uid, maxUID) {
				continue
			}
			if seq := v.tracker.EncodeSeqNum(uint32(i + 1)); seq != 0 {
				out = append(out, msgRef{seq: seq, uid: uid})
			}
		}
	}
	return out
}

// all returns every message known to the client, with the highest
// sequence number and UID the client can name with "*".
func (v *view) all() (refs []msgRef, maxSeq, maxUID uint32) {
	b := v.box
	b.mu.Lock()
	defer b.mu.Unlock()
	refs = make([]msgRef, 0, len(b.uids))
	for i, uid := range b.uids {
		if seq := v.tracker.EncodeSeqNum(uint32(i + 1)); seq != 0 {
			refs = append(refs, msgRef{seq: seq, uid: uid})
		}
	}
	if n := len(b.uids); n > 0 {
		maxUID = b.uids[n-1]
	}
	return refs, v.clientMaxLocked(), maxUID
}

// seqOf returns the client's sequence number of uid, 0 if the client
// does not know it (any more).
func (v *view) seqOf(uid uint32) uint32 {
	b := v.box
	b.mu.Lock()
	defer b.mu.Unlock()
	i, ok := slices.BinarySearch(b.uids, uid)
	if !ok {
		return 0
	}
	return v.tracker.EncodeSeqNum(uint32(i + 1))
}

// lastUID returns the highest UID in the mailbox now, 0 if it is empty.
func (v *view) lastUID() uint32 {
	b := v.box
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.uids); n > 0 {
		return b.uids[n-1]
	}
	return 0
}

// clientMaxLocked returns the highest sequence number the client knows
// of that still exists. b.mu must be held.
func (v *view) clientMaxLocked() uint32 {
	for i := len(v.box.uids); i > 0; i-- {
		if seq := v.tracker.EncodeSeqNum(uint32(i)); seq != 0 {
			return seq
		}
	}
	return 0
}

// uidSetContains reports whether set contains uid, "*" standing for max
// (RFC 9051 §9: "n:*" includes max even if n > max).
func uidSetContains(set imap.UIDSet, uid, max uint32) bool {
	for _, r := range set {
		start, stop := uint32(r.Start), uint32(r.Stop)
		if start == 0 {
			start = max
		}
		if stop == 0 {
			stop = max
		}
		if start > stop {
			start, stop = stop, start
		}
		if start <= uid && uid <= stop {
			return true
		}
	}
	return false
}

// toIMAPFlags converts stored flags.
func toIMAPFlags(flags []string) []imap.Flag {
	out := make([]imap.Flag, len(flags))
	for i, f := range flags {
		out[i] = imap.Flag(f)
	}
	return out
}
