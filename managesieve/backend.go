package managesieve

import (
	"context"
	"errors"
)

// Errors a Backend returns; the server turns each into the response code
// RFC 5804 defines for it. Wrapped errors are recognised.
var (
	// ErrAuthFailed: the user name or password is wrong.
	ErrAuthFailed = errors.New("managesieve: invalid credentials")
	// ErrNonexistent: no script has that name (NONEXISTENT).
	ErrNonexistent = errors.New("managesieve: no such script")
	// ErrActive: the active script cannot be deleted (ACTIVE).
	ErrActive = errors.New("managesieve: script is active")
	// ErrAlreadyExists: the new name of a rename is taken (ALREADYEXISTS).
	ErrAlreadyExists = errors.New("managesieve: script name already exists")
	// ErrQuotaMaxScripts: the user has as many scripts as allowed
	// (QUOTA/MAXSCRIPTS).
	ErrQuotaMaxScripts = errors.New("managesieve: too many scripts")
	// ErrQuotaMaxSize: the script is larger than allowed, or would take
	// the user over their total (QUOTA/MAXSIZE).
	ErrQuotaMaxSize = errors.New("managesieve: script too large")
	// ErrRevoked: the user's credentials changed, or the account was
	// disabled, since the session logged in; the session ends.
	ErrRevoked = errors.New("managesieve: credentials changed since login")
)

// InvalidScriptError reports a script that does not compile. Msg is shown
// to the user as it is and should name the line and column.
type InvalidScriptError struct{ Msg string }

func (e *InvalidScriptError) Error() string { return "invalid script: " + e.Msg }

// Backend authenticates users and opens their scripts.
type Backend interface {
	// Authenticate checks a user name and password and returns the user's
	// scripts; ErrAuthFailed (possibly wrapped) if they are wrong.
	Authenticate(ctx context.Context, user, password string) (Scripts, error)
}

// ScriptInfo describes one stored script.
type ScriptInfo struct {
	Name   string
	Active bool
}

// Scripts are the Sieve scripts of one authenticated user. Names are
// compared exactly (octet by octet).
type Scripts interface {
	// Owner is the canonical name of the user (for the OWNER capability
	// and the logs).
	Owner() string
	// List returns the user's scripts.
	List(ctx context.Context) ([]ScriptInfo, error)
	// Get returns a script's content; ErrNonexistent if there is none.
	Get(ctx context.Context, name string) (string, error)
	// Put checks content and stores it under name, replacing a script of
	// that name (and keeping it active if it was). It returns
	// *InvalidScriptError for a script that does not compile, the quota
	// errors, and warnings about a script that compiles but may not do
	// what the user expects.
	Put(ctx context.Context, name, content string) (warnings []string, err error)
	// Check compiles content without storing it, as Put would.
	Check(ctx context.Context, content string) (warnings []string, err error)
	// Delete removes a script; ErrNonexistent, ErrActive.
	Delete(ctx context.Context, name string) error
	// Rename renames a script, which stays active if it was;
	// ErrNonexistent, ErrAlreadyExists.
	Rename(ctx context.Context, oldName, newName string) error
	// SetActive makes name the active script, or deactivates every script
	// when name is empty; ErrNonexistent.
	SetActive(ctx context.Context, name string) error
	// HaveSpace reports whether a script of size octets could be stored
	// under name: nil, ErrQuotaMaxScripts or ErrQuotaMaxSize.
	HaveSpace(ctx context.Context, name string, size int64) error
}
