package imapserver

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// NewStoreBackend adapts the mailstore to Backend.
func NewStoreBackend(store *mailstore.Store) Backend {
	return &storeBackend{store: store}
}

type storeBackend struct {
	store *mailstore.Store
}

func (b *storeBackend) Authenticate(ctx context.Context, username, password string) (Account, error) {
	u, key, err := b.store.OpenMailSession(ctx, username, password, mailstore.ProtocolIMAP)
	if err != nil {
		if errors.Is(err, core.ErrAuthFailed) {
			return nil, fmt.Errorf("%w: %v", ErrAuthFailed, err)
		}
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	return &aclAccount{storeAccount: &storeAccount{store: b.store, user: u, key: key}}, nil
}

func (b *storeBackend) Subscribe(fn func(mailstore.Event)) func() {
	return b.store.Notifier().Subscribe(fn)
}

func (b *storeBackend) Snapshot(ctx context.Context, mailboxID int64) ([]uint32, int64, error) {
	return b.store.Snapshot(ctx, mailboxID)
}

// storeAccount is a logged-in user of the mailstore, with the key of
// user-key encryption the login unlocked (nil: none), for this session
// only.
type storeAccount struct {
	store *mailstore.Store
	user  *mailstore.User
	key   *mailstore.MailKey
}

// Forget drops the payload keys the session's key of user-key encryption
// kept for messages it read (see mailstore.MailKey.Forget): the session
// is over.
func (a *storeAccount) Forget() { a.key.Forget() }

func (a *storeAccount) ID() int64       { return a.user.ID }
func (a *storeAccount) Address() string { return a.user.Address }

func (a *storeAccount) ListMailboxes(ctx context.Context) ([]mailstore.Mailbox, error) {
	return a.store.ListMailboxes(ctx, a.user.ID)
}

func (a *storeAccount) GetMailbox(ctx context.Context, name string) (*mailstore.Mailbox, error) {
	return a.store.GetMailbox(ctx, a.user.ID, name)
}

func (a *storeAccount) CreateMailbox(ctx context.Context, name, specialUse string) error {
	_, err := a.store.CreateMailbox(ctx, a.user.ID, name, specialUse)
	return err
}

func (a *storeAccount) DeleteMailbox(ctx context.Context, name string) error {
	return a.store.DeleteMailbox(ctx, a.user.ID, name)
}

func (a *storeAccount) RenameMailbox(ctx context.Context, from, to string) error {
	return a.store.RenameMailbox(ctx, a.user.ID, from, to)
}

func (a *storeAccount) SetSubscribed(ctx context.Context, name string, subscribed bool) error {
	return a.store.SetSubscribed(ctx, a.user.ID, name, subscribed)
}

func (a *storeAccount) ListSubscriptions(ctx context.Context) ([]string, error) {
	return a.store.ListSubscriptions(ctx, a.user.ID)
}

func (a *storeAccount) Status(ctx context.Context, mailboxID int64) (*mailstore.MailboxStatus, error) {
	return a.store.Status(ctx, mailboxID)
}

func (a *storeAccount) ListMessages(ctx context.Context, mailboxID int64, set mailstore.UIDSet) ([]mailstore.MessageMeta, error) {
	return a.store.ListMessages(ctx, mailboxID, set)
}

func (a *storeAccount) ListMessageFlags(ctx context.Context, mailboxID int64, set mailstore.UIDSet) ([]mailstore.MessageMeta, error) {
	return a.store.ListMessageFlags(ctx, mailboxID, set)
}

func (a *storeAccount) ListMessageBodies(ctx context.Context, mailboxID int64, set mailstore.UIDSet) ([]mailstore.MessageMeta, error) {
	return a.store.ListMessageBodies(ctx, mailboxID, set)
}

func (a *storeAccount) SnapshotFlags(ctx context.Context, mailboxID int64) ([]mailstore.MessageMeta, int64, error) {
	return a.store.SnapshotFlags(ctx, mailboxID)
}

func (a *storeAccount) ListExpunged(ctx context.Context, mailboxID int64, uids []uint32) ([]mailstore.MessageMeta, error) {
	return a.store.ListExpunged(ctx, mailboxID, uids)
}

func (a *storeAccount) ListMessagesWithHeaders(ctx context.Context, mailboxID int64, set mailstore.UIDSet) ([]mailstore.MessageMeta, error) {
	// Without the session's key: a body sealed to it gets no cached header.
	return a.store.ListMessagesWithHeaders(ctx, mailboxID, set)
}

func (a *storeAccount) OpenMessage(ctx context.Context, m *mailstore.MessageMeta) (io.ReadCloser, error) {
	return a.store.OpenMessage(a.key.Context(ctx), m)
}

func (a *storeAccount) OpenMessages(ctx context.Context, ms []*mailstore.MessageMeta) MessageBodies {
	return &storeBodies{r: a.store.NewBodyReader(ms, true), ctx: a.key.Context(ctx)}
}

// storeBodies is MessageBodies on a mailstore.BodyReader.
type storeBodies struct {
	r   *mailstore.BodyReader
	ctx context.Context // with the session's key
}

func (b *storeBodies) Open(m *mailstore.MessageMeta) (io.ReadCloser, error) {
	return b.r.Open(b.ctx, m)
}

func (b *storeBodies) Close() { b.r.Close() }

func (a *storeAccount) NewAppend(ctx context.Context, mailbox string) (AppendTx, error) {
	return a.store.NewAppendBatch(ctx, a.user.ID, mailbox)
}

func (a *storeAccount) StoreFlags(ctx context.Context, mailboxID int64, set mailstore.UIDSet, op mailstore.FlagOp, flags []string, unchangedSince int64) ([]mailstore.FlagUpdate, []uint32, error) {
	return a.store.StoreFlagsIf(ctx, mailboxID, set, op, flags, unchangedSince)
}

func (a *storeAccount) CopyMessages(ctx context.Context, mailboxID int64, set mailstore.UIDSet, dest string, move bool) (*mailstore.CopyResult, error) {
	return a.store.CopyMessages(ctx, mailboxID, set, dest, move)
}

func (a *storeAccount) Expunge(ctx context.Context, mailboxID int64, set mailstore.UIDSet) ([]uint32, error) {
	return a.store.Expunge(ctx, mailboxID, set)
}

func (a *storeAccount) Quota(ctx context.Context) (*Quota, error) {
	u, err := a.store.GetUserByID(ctx, a.user.ID)
	if err != nil {
		return nil, err
	}
	return userQuota(u), nil
}

func (a *storeAccount) GetMetadata(ctx context.Context, mailboxID int64) ([]mailstore.MetadataEntry, error) {
	return a.store.GetMetadata(ctx, a.user.ID, mailboxID)
}

func (a *storeAccount) SetMetadata(ctx context.Context, mailboxID int64, entries []mailstore.MetadataEntry, maxEntries int) error {
	return a.store.SetMetadata(ctx, a.user.ID, mailboxID, entries, maxEntries)
}

func (a *storeAccount) ThreadIDs(ctx context.Context, blobKeys []string) (map[string]string, error) {
	return a.store.ThreadIDs(ctx, blobKeys)
}

func (a *storeAccount) AssignThreads(ctx context.Context, mailboxID int64, items []mailstore.ThreadItem) (map[string]string, error) {
	return a.store.AssignThreads(ctx, mailboxID, items)
}
