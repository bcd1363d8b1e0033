package pop3server

import (
	"context"
	"errors"
	"io"
)

// ErrAuthFailed is wrapped by the error a Backend returns for wrong
// credentials (an unknown user, a wrong password or a disabled account).
// Other errors are taken as temporary failures.
var ErrAuthFailed = errors.New("pop3: authentication failed")

// ErrMessageGone is wrapped by the error Maildrop.Open returns for a message
// of the snapshot that was removed meanwhile (e.g. expunged over IMAP).
var ErrMessageGone = errors.New("pop3: message no longer exists")

// ErrMessageLocked is wrapped by the error Maildrop.Open returns for a
// message encrypted with a key the login has not unlocked (user-key
// encryption at rest): it cannot be read in this session at all.
var ErrMessageLocked = errors.New("pop3: message is encrypted with a key this login has not unlocked")

// Backend authenticates users and opens their maildrops.
type Backend interface {
	// Authenticate checks a user's credentials and returns their maildrop.
	// Wrong credentials give an error wrapping ErrAuthFailed.
	Authenticate(ctx context.Context, username, password string) (Maildrop, error)
}

// Maildrop is one user's mailbox as POP3 sees it.
type Maildrop interface {
	// ID identifies the maildrop: two sessions with the same ID work on the
	// same messages, so only one at a time may be in the TRANSACTION state.
	ID() string
	// List returns the messages in the maildrop now, in a stable order.
	List(ctx context.Context) ([]MessageInfo, error)
	// Open returns the content of a message from List, with CRLF line
	// endings and exactly MessageInfo.Size bytes. A message removed since
	// the List gives an error wrapping ErrMessageGone. The content must
	// be closed before the next Open: a maildrop may read messages ahead
	// (in List's order) and reuse its memory.
	Open(ctx context.Context, msg MessageInfo) (io.ReadCloser, error)
	// Delete removes messages from List permanently. Messages already gone
	// are not an error.
	Delete(ctx context.Context, msgs []MessageInfo) error
	// Close releases what the maildrop holds (messages read ahead); the
	// session calls it when it ends.
	Close()
}

// MessageInfo describes one message of a maildrop.
type MessageInfo struct {
	// UIDL is the message's unique id (RFC 1939 §7): 1 to 70 characters in
	// the range 0x21 to 0x7E, the same in every session for as long as the
	// message exists.
	UIDL string
	// Size is the message's size in octets, with CRLF line endings.
	Size int64
	// Ref is the Backend's own reference to the message.
	Ref any
}
