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
	// ErrForbidden means the caller is known but may not do this.
	ErrForbidden = errors.New("forbidden")
)

// FieldError says what is wrong with one input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists the invalid fields of one request. It wraps
// ErrInvalid.
type ValidationError struct {
	Fields []FieldError
}

// Error implements error.
func (e *ValidationError) Error() string {
	if len(e.Fields) == 1 {
		return "invalid " + e.Fields[0].Field + ": " + e.Fields[0].Message
	}
	s := "invalid input:"
	for i, f := range e.Fields {
		if i > 0 {
			s += ";"
		}
		s += " " + f.Field + ": " + f.Message
	}
	return s
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Invalid returns a ValidationError for one field.
func Invalid(field, message string) error {
	return &ValidationError{Fields: []FieldError{{Field: field, Message: message}}}
}
