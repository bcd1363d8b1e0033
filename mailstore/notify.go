package mailstore

import "sync"

// EventKind says what changed.
type EventKind int

// The kinds of change the mailstore announces.
const (
	// MessagesAdded: UIDs were appended to a mailbox.
	MessagesAdded EventKind = iota + 1
	// MessagesExpunged: UIDs were removed from a mailbox.
	MessagesExpunged
	// FlagsChanged: the flags of UIDs changed; Flags holds their new flags.
	FlagsChanged
	// MailboxesChanged: a user's mailbox list changed (create, delete, rename).
	MailboxesChanged
	// SubscriptionsChanged: a user's subscription list changed; Names holds
	// the mailbox names subscribed or unsubscribed.
	SubscriptionsChanged
	// MetadataChanged: METADATA entries (RFC 5464) of MailboxID (0: the
	// server's) were set or removed; Names holds the entry names.
	MetadataChanged
	// Resync: changes may have been missed (a node lost its link to the
	// others and got it back, see internal/db/pgnotify). It names no user
	// or mailbox: every reader reloads what it shows from the database.
	Resync
)

// Event is one committed change. Events are published in commit order.
type Event struct {
	Kind      EventKind
	UserID    int64
	MailboxID int64
	// ModSeq is the mailbox's highest MODSEQ after the change; a reader that
	// loaded a snapshot at ModSeq m ignores events with ModSeq <= m.
	ModSeq int64
	UIDs   []uint32   // ascending
	Flags  [][]string // with FlagsChanged: the new flags of UIDs[i]
	// Origin is the opaque origin set with WithOrigin on the writer's context,
	// so that a session can tell its own changes from others'.
	Origin string
	// FromMailboxID is set on MessagesAdded for a MOVE: where they came from.
	FromMailboxID int64
	// Names lists what changed by name, with SubscriptionsChanged and
	// MetadataChanged.
	Names []string
	// SeenUser, on FlagsChanged, is the user whose private \Seen changed
	// (see seen.go): only they are told, and Flags are as they see them.
	SeenUser int64
}

// Notifier tells interested parties (IMAP IDLE, POP3, caches) about changes.
// In one process it is LocalNotifier; across nodes on one PostgreSQL it is
// internal/db/pgnotify (LISTEN/NOTIFY), which also publishes Resync.
type Notifier interface {
	// Publish delivers events to every subscriber, in order.
	Publish(events []Event)
	// Subscribe registers fn; fn is called synchronously and must not block
	// or call back into the store's write path. The returned func cancels.
	Subscribe(fn func(Event)) (cancel func())
}

// LocalNotifier is an in-process Notifier.
type LocalNotifier struct {
	mu   sync.RWMutex
	next int
	subs map[int]func(Event)
}

// NewLocalNotifier returns an empty in-process notifier.
func NewLocalNotifier() *LocalNotifier {
	return &LocalNotifier{subs: make(map[int]func(Event))}
}

// Publish implements Notifier.
func (n *LocalNotifier) Publish(events []Event) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	for _, ev := range events {
		for _, fn := range n.subs {
			fn(ev)
		}
	}
}

// Subscribe implements Notifier.
func (n *LocalNotifier) Subscribe(fn func(Event)) func() {
	n.mu.Lock()
	id := n.next
	n.next++
	n.subs[id] = fn
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		delete(n.subs, id)
		n.mu.Unlock()
	}
}
