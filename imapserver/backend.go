package imapserver

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/yubinmail/yubin/mailstore"
)

// ErrAuthFailed is wrapped by the error a Backend returns for wrong
// credentials (an unknown user, a wrong password or a disabled account).
// Other errors are taken as temporary failures.
var ErrAuthFailed = errors.New("imapserver: authentication failed")

// Backend authenticates users and tells sessions about changes.
type Backend interface {
	// Authenticate checks a user's credentials and returns their account.
	// Wrong credentials give an error wrapping ErrAuthFailed.
	Authenticate(ctx context.Context, username, password string) (Account, error)
	// Subscribe registers fn for every committed change, in commit order;
	// fn must not block. The returned func cancels.
	Subscribe(fn func(mailstore.Event)) (cancel func())
	// Snapshot returns a mailbox's UIDs in order and the MODSEQ they are
	// current at: events with a higher ModSeq come after it.
	Snapshot(ctx context.Context, mailboxID int64) (uids []uint32, modSeq int64, err error)
}

// Account is one user's mail as IMAP sees it. Mailboxes are named by
// their UTF-8 names; errors wrap core.ErrNotFound, core.ErrExists,
// core.ErrInvalid, core.ErrConflict, core.ErrOverQuota or core.ErrTooLarge
// where they are the client's doing.
type Account interface {
	// ID identifies the account; Address is its login name.
	ID() int64
	Address() string
	ListMailboxes(ctx context.Context) ([]mailstore.Mailbox, error)
	GetMailbox(ctx context.Context, name string) (*mailstore.Mailbox, error)
	CreateMailbox(ctx context.Context, name, specialUse string) error
	DeleteMailbox(ctx context.Context, name string) error
	RenameMailbox(ctx context.Context, from, to string) error
	// SetSubscribed edits the subscription list, which is the user's
	// own: it may name mailboxes that do not exist.
	SetSubscribed(ctx context.Context, name string, subscribed bool) error
	ListSubscriptions(ctx context.Context) ([]string, error)
	Status(ctx context.Context, mailboxID int64) (*mailstore.MailboxStatus, error)
	// ListMessages returns the messages of a mailbox in set (nil: all),
	// by ascending UID.
	ListMessages(ctx context.Context, mailboxID int64, set mailstore.UIDSet) ([]mailstore.MessageMeta, error)
	// ListMessageFlags is ListMessages with only UID, ModSeq and Flags
	// set (the Flags slices may be shared: read-only).
	ListMessageFlags(ctx context.Context, mailboxID int64, set mailstore.UIDSet) ([]mailstore.MessageMeta, error)
	// SnapshotFlags returns the messages of a mailbox as
	// ListMessageFlags lists them and the MODSEQ they are current at
	// (Backend.Snapshot with the flags, for SELECT).
	SnapshotFlags(ctx context.Context, mailboxID int64) ([]mailstore.MessageMeta, int64, error)
	// ListMessageBodies is ListMessages without the dates (InternalDate
	// and SaveDate zero; the Flags slices may be shared: read-only).
	ListMessageBodies(ctx context.Context, mailboxID int64, set mailstore.UIDSet) ([]mailstore.MessageMeta, error)
	// ListMessagesWithHeaders is ListMessages with each message's
	// CachedHeader (nil where the store keeps none).
	ListMessagesWithHeaders(ctx context.Context, mailboxID int64, set mailstore.UIDSet) ([]mailstore.MessageMeta, error)
	// OpenMessage opens a message's bytes, exactly as stored.
	OpenMessage(ctx context.Context, m *mailstore.MessageMeta) (io.ReadCloser, error)
	// OpenMessages returns a reader of the bodies of ms, which the caller
	// opens in that order (a FETCH of bodies over a set): the store may
	// read them ahead, in batches.
	OpenMessages(ctx context.Context, ms []*mailstore.MessageMeta) MessageBodies
	// ListExpunged returns the messages of a mailbox among uids that
	// another session expunged recently and whose bodies are still
	// readable, for a session not yet told (RFC 2180 §4.1).
	ListExpunged(ctx context.Context, mailboxID int64, uids []uint32) ([]mailstore.MessageMeta, error)
	// NewAppend starts appending messages to an existing mailbox: all of
	// them or none (MULTIAPPEND, RFC 3502).
	NewAppend(ctx context.Context, mailbox string) (AppendTx, error)
	// StoreFlags changes flags; messages whose MODSEQ is above
	// unchangedSince (if not negative) are left alone and returned in
	// modified (CONDSTORE, RFC 7162 §3.1.3).
	StoreFlags(ctx context.Context, mailboxID int64, set mailstore.UIDSet, op mailstore.FlagOp, flags []string, unchangedSince int64) (updates []mailstore.FlagUpdate, modified []uint32, err error)
	CopyMessages(ctx context.Context, mailboxID int64, set mailstore.UIDSet, dest string, move bool) (*mailstore.CopyResult, error)
	// Quota returns the account's limits (0: none) and usage, in bytes
	// and messages (RFC 9208 STORAGE and MESSAGE).
	Quota(ctx context.Context) (*Quota, error)
	// Expunge removes the \Deleted messages of set (nil: all of them).
	Expunge(ctx context.Context, mailboxID int64, set mailstore.UIDSet) ([]uint32, error)
	// GetMetadata returns the METADATA entries (RFC 5464) of a mailbox,
	// or of the server with mailboxID 0, ordered by name.
	GetMetadata(ctx context.Context, mailboxID int64) ([]mailstore.MetadataEntry, error)
	// SetMetadata sets (nil Value: removes) entries all or none, leaving
	// at most maxEntries; more wrap core.ErrOverQuota.
	SetMetadata(ctx context.Context, mailboxID int64, entries []mailstore.MetadataEntry, maxEntries int) error
	// ThreadIDs returns the thread ids (THREADID, RFC 8474) of the
	// bodies of blobKeys, by key; bodies without one yet are left out.
	ThreadIDs(ctx context.Context, blobKeys []string) (map[string]string, error)
	// AssignThreads gives messages of a mailbox without a thread id one,
	// in the order given, and returns them by blob key.
	AssignThreads(ctx context.Context, mailboxID int64, items []mailstore.ThreadItem) (map[string]string, error)
	// URLAccount serves IMAP URLs (CATENATE, URLAUTH).
	URLAccount
	// Sharing: access control lists and other users' mailboxes (acl.go).
	Sharing
}

// MessageBodies opens the bodies of a run of messages (see
// Account.OpenMessages). A body opened must be closed before the next one
// is opened; Close releases what was read ahead.
type MessageBodies interface {
	Open(m *mailstore.MessageMeta) (io.ReadCloser, error)
	Close()
}

// Quota is an account's storage limits and usage; a limit of 0 means none.
type Quota struct {
	LimitBytes, UsedBytes       int64
	LimitMessages, UsedMessages int64
}

// AppendTx appends messages to a mailbox all or none.
type AppendTx interface {
	// Add stores the bytes of r as a new message, unchanged.
	Add(ctx context.Context, r io.Reader, flags []string, date time.Time) error
	// Commit adds the messages, with consecutive UIDs, or none of them.
	Commit(ctx context.Context) ([]mailstore.AppendResult, error)
	// Abort drops the messages added so far.
	Abort(ctx context.Context)
}
