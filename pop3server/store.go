package pop3server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// NewStoreBackend adapts the mailstore to Backend: a user's maildrop is
// their INBOX, shared with IMAP. A message's UIDL is its INBOX UIDVALIDITY
// and UID, which stay the same across sessions for as long as the message
// stays in INBOX.
func NewStoreBackend(store *mailstore.Store) Backend {
	return &storeBackend{store: store}
}

type storeBackend struct {
	store *mailstore.Store
}

func (b *storeBackend) Authenticate(ctx context.Context, username, password string) (Maildrop, error) {
	u, key, err := b.store.OpenMailSession(ctx, username, password, mailstore.ProtocolPOP3)
	if err != nil {
		if errors.Is(err, core.ErrAuthFailed) {
			return nil, fmt.Errorf("%w: %v", ErrAuthFailed, err)
		}
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	inbox, err := b.store.GetMailbox(ctx, u.ID, mailstore.Inbox)
	if err != nil {
		return nil, fmt.Errorf("open maildrop of %s: %w", u.Address, err)
	}
	return &storeMaildrop{store: b.store, userID: u.ID, inbox: inbox, key: key}, nil
}

type storeMaildrop struct {
	store  *mailstore.Store
	userID int64
	inbox  *mailstore.Mailbox
	key    *mailstore.MailKey // of user-key encryption, for this session; nil: none
	// order is the messages of the last List; bodies reads them, ahead
	// while the client reads them in that order (RETR one after another).
	order  []*mailstore.MessageMeta
	bodies *mailstore.BodyReader
}

func (m *storeMaildrop) ID() string { return strconv.FormatInt(m.userID, 10) }

func (m *storeMaildrop) List(ctx context.Context) ([]MessageInfo, error) {
	// Re-read the mailbox: a RENAME of INBOX gives it a new UIDVALIDITY
	// only in name, but be exact about what is current now.
	inbox, err := m.store.GetMailboxByID(ctx, m.inbox.ID)
	if err != nil {
		return nil, fmt.Errorf("list maildrop: %w", err)
	}
	m.inbox = inbox
	msgs, err := m.store.ListMessageBodies(ctx, inbox.ID, nil)
	if err != nil {
		return nil, fmt.Errorf("list maildrop: %w", err)
	}
	prefix := strconv.FormatUint(uint64(inbox.UIDValidity), 10) + "."
	out := make([]MessageInfo, len(msgs))
	m.releaseBodies()
	m.order = make([]*mailstore.MessageMeta, len(msgs))
	for i := range msgs {
		m.order[i] = &msgs[i]
		out[i] = MessageInfo{
			UIDL: prefix + strconv.FormatUint(uint64(msgs[i].UID), 10),
			Size: msgs[i].Size,
			Ref:  &msgs[i],
		}
	}
	return out, nil
}

// Open opens a message's body. A body that is gone was expunged meanwhile
// (the store removes a body with the last message that references it).
func (m *storeMaildrop) Open(ctx context.Context, msg MessageInfo) (io.ReadCloser, error) {
	meta, ok := msg.Ref.(*mailstore.MessageMeta)
	if !ok {
		return nil, fmt.Errorf("open message %s: not from this maildrop", msg.UIDL)
	}
	if m.bodies == nil {
		m.bodies = m.store.NewBodyReader(m.order, false)
	}
	b, err := m.bodies.Open(m.key.Context(ctx), meta)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open message %s: %w", msg.UIDL, ErrMessageGone)
	}
	if errors.Is(err, mailstore.ErrBodyLocked) {
		return nil, fmt.Errorf("open message %s: %w: %w", msg.UIDL, ErrMessageLocked, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open message %s: %w", msg.UIDL, err)
	}
	return b, nil
}

// Close releases the bodies read ahead, and the payload keys the
// session's key kept (user-key encryption): the session is over.
func (m *storeMaildrop) Close() {
	m.releaseBodies()
	m.key.Forget()
}

// releaseBodies releases the bodies read ahead.
func (m *storeMaildrop) releaseBodies() {
	if m.bodies != nil {
		m.bodies.Close()
		m.bodies = nil
	}
}

func (m *storeMaildrop) Delete(ctx context.Context, msgs []MessageInfo) error {
	uids := make([]uint32, 0, len(msgs))
	for _, msg := range msgs {
		meta, ok := msg.Ref.(*mailstore.MessageMeta)
		if !ok {
			return fmt.Errorf("delete message %s: not from this maildrop", msg.UIDL)
		}
		uids = append(uids, meta.UID)
	}
	if err := m.store.DeleteMessages(ctx, m.inbox.ID, uids); err != nil {
		return fmt.Errorf("delete %d messages: %w", len(uids), err)
	}
	return nil
}
