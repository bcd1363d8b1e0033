package core

import "errors"

// Error kinds shared across packages. Callers test them with errors.Is; the
// protocol servers and the API map them to their own replies.
var (
	// ErrNotFound means the named domain, user, mailbox or message does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means an object with that name already exists.
	ErrExists = errors.New("already exists")
	// ErrInvalid means the input is malformed; the wrapping error says which part.
	ErrInvalid = errors.New("invalid input")
	// ErrAuthFailed means the credentials were wrong or the account is disabled.
	ErrAuthFailed = errors.New("authentication failed")
	// ErrOverQuota means storing the message would exceed the user's quota.
	ErrOverQuota = errors.New("over quota")
	// ErrTooLarge means the message is larger than the configured limit.
	ErrTooLarge = errors.New("message too large")
	// ErrConflict means the operation conflicts with the current state
	// (deleting a domain that still has users, renaming onto INBOX, ...).
	ErrConflict = errors.New("conflict")
)
