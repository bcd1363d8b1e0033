package service

import (
	"context"
	"io"
	"net/netip"
	"time"

	"github.com/yubinmail/yubin/internal/db"
	"github.com/yubinmail/yubin/internal/importer"
	"github.com/yubinmail/yubin/internal/tokens"
	"github.com/yubinmail/yubin/mailstore"
)

// Store is the mailstore as the service uses it, by concern; the
// mailstore's *mailstore.Store is one.
type Store interface {
	Accounts
	Credentials
	Mail
	Quarantine
	SieveScripts
	TableLender
}

// Accounts are the accounts of the server: domains and their settings,
// users, server and domain admins, aliases, shared accounts and who may
// send as whom.
type Accounts interface {
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// CreateDomain adds a mail domain.
	CreateDomain(ctx context.Context, name string) (*mailstore.Domain, error)
	// GetDomain returns a domain by name.
	GetDomain(ctx context.Context, name string) (*mailstore.Domain, error)
	// ListDomains returns all domains by name.
	ListDomains(ctx context.Context) ([]mailstore.Domain, error)
	// UpdateDomain changes a domain's settings and returns it as it is now.
	UpdateDomain(ctx context.Context, name string, up mailstore.DomainUpdate) (*mailstore.Domain, error)
	// DeleteDomain removes a domain.
	DeleteDomain(ctx context.Context, name string, cascade bool) error
	// DomainUsage returns a domain's number of users and the size and number
	// of their messages.
	DomainUsage(ctx context.Context, name string) (*mailstore.DomainUsage, error)
	// CreateUser adds an account in an existing domain, with its default
	// mailboxes, in one transaction.
	CreateUser(ctx context.Context, nu mailstore.NewUser) (*mailstore.User, error)
	// GetUser returns an account by address.
	GetUser(ctx context.Context, address string) (*mailstore.User, error)
	// GetUserByID returns an account by its ID.
	GetUserByID(ctx context.Context, id int64) (*mailstore.User, error)
	// ListUsers returns accounts ordered by address.
	ListUsers(ctx context.Context, f mailstore.UserFilter) ([]mailstore.User, error)
	// CountUsers returns how many accounts ListUsers would return without
	// Limit and Offset.
	CountUsers(ctx context.Context, f mailstore.UserFilter) (int64, error)
	// UpdateUser changes an account's settings and returns it as it is now.
	UpdateUser(ctx context.Context, address string, up mailstore.UserUpdate) (*mailstore.User, error)
	// DeleteUser removes an account with all its mailboxes and mail.
	DeleteUser(ctx context.Context, address string) error
	// Authenticate checks an address and account password (never an app
	// password) and returns the account: the first step of signing in to the
	// dashboard and the API.
	Authenticate(ctx context.Context, address, password string) (*mailstore.User, error)
	// ChangePassword is SetPassword that also re-seals, recovers or replaces
	// the key of a user-key account, per how (see KeyHandling).
	ChangePassword(ctx context.Context, address, password string, how mailstore.KeyHandling) error
	// CreateAdmin adds a server admin.
	CreateAdmin(ctx context.Context, email, password string) (*mailstore.Admin, error)
	// EnsureAdmin creates the first server admin: it does so only if no admin
	// exists yet, and reports whether it did.
	EnsureAdmin(ctx context.Context, email, password string) (created bool, err error)
	// GetAdmin returns a server admin by email.
	GetAdmin(ctx context.Context, email string) (*mailstore.Admin, error)
	// GetAdminByID returns a server admin by ID.
	GetAdminByID(ctx context.Context, id int64) (*mailstore.Admin, error)
	// ListAdmins returns the server admins by email.
	ListAdmins(ctx context.Context) ([]mailstore.Admin, error)
	// SetAdminPassword replaces a server admin's password.
	SetAdminPassword(ctx context.Context, email, password string) error
	// DeleteAdmin removes a server admin and its API tokens.
	DeleteAdmin(ctx context.Context, email string) error
	// AuthenticateAdmin checks a server admin's email and password.
	AuthenticateAdmin(ctx context.Context, email, password string) (*mailstore.Admin, error)
	// AddDomainAdmin lets the user at userAddress administer domain.
	AddDomainAdmin(ctx context.Context, userAddress, domain string) error
	// RemoveDomainAdmin takes administration of domain away from the user at
	// userAddress.
	RemoveDomainAdmin(ctx context.Context, userAddress, domain string) error
	// ListDomainAdmins returns the addresses of the users who administer
	// domain, in order.
	ListDomainAdmins(ctx context.Context, domain string) ([]string, error)
	// AdminDomains returns the names of the domains the user administers, in
	// order (none if the user is unknown).
	AdminDomains(ctx context.Context, userID int64) ([]string, error)
	// CreateAlias makes address (or, given as "@domain", the domain's
	// catch-all) forward to targets: 1 to MaxAliasTargets addresses, local or
	// not, which are normalised and deduplicated.
	CreateAlias(ctx context.Context, address string, targets []string) (*mailstore.Alias, error)
	// GetAlias returns an alias by address ("@domain" for a catch-all).
	GetAlias(ctx context.Context, address string) (*mailstore.Alias, error)
	// ListAliases returns aliases ordered by address (catch-alls, "@domain",
	// sort first).
	ListAliases(ctx context.Context, f mailstore.AliasFilter) ([]mailstore.Alias, error)
	// CountAliases returns how many aliases ListAliases would return without
	// Limit and Offset.
	CountAliases(ctx context.Context, f mailstore.AliasFilter) (int64, error)
	// UpdateAlias replaces the targets of an alias and returns it as it is
	// now.
	UpdateAlias(ctx context.Context, address string, targets []string) (*mailstore.Alias, error)
	// DeleteAlias removes an alias.
	DeleteAlias(ctx context.Context, address string) error
	// CreateSharedAccount creates a shared account: an account with the
	// default mailboxes, that receives mail and has no login.
	CreateSharedAccount(ctx context.Context, nu mailstore.NewUser) (*mailstore.User, error)
	// IsSharedAccount reports whether the user is a shared account.
	IsSharedAccount(ctx context.Context, userID int64) (bool, error)
	// ListSharedAccounts returns the shared accounts by address; with domain
	// set, those of that domain only.
	ListSharedAccounts(ctx context.Context, domain string) ([]mailstore.User, error)
	// SetSharedMember gives member (a user's address) rights on every mailbox
	// of a shared account; empty rights remove the member.
	SetSharedMember(ctx context.Context, account, member, rights string) error
	// SharedMembers returns the members of a shared account and their rights
	// (those on its INBOX), by address.
	SharedMembers(ctx context.Context, account string) ([]mailstore.SharedMember, error)
	// GrantSendAs lets the user at userAddress send as address, which must be
	// another account or an alias (not a catch-all) of a local domain:
	// ErrInvalid for the user's own address or a catch-all, ErrNotFound for an
	// unknown user or an address that is neither an account nor an alias,
	// ErrExists for a right the user already has.
	GrantSendAs(ctx context.Context, userAddress, address string) (*mailstore.SendAsGrant, error)
	// ListSendAs returns the addresses the user at userAddress may send as
	// beyond their own and their aliases, by address.
	ListSendAs(ctx context.Context, userAddress string) ([]mailstore.SendAsGrant, error)
	// RevokeSendAs takes back the right of the user at userAddress to send as
	// address (ErrNotFound if there is none).
	RevokeSendAs(ctx context.Context, userAddress, address string) error
}

// Credentials are how accounts prove who they are beyond the password:
// the security policy, second factors (TOTP, recovery codes, passkeys),
// app passwords, the places users signed in from, and the keys of
// encrypted mail.
type Credentials interface {
	// GetSecurityPolicy returns the server's account security settings.
	GetSecurityPolicy(ctx context.Context) (*mailstore.SecurityPolicy, error)
	// UpdateSecurityPolicy changes the server's account security settings and
	// returns them as they are now.
	UpdateSecurityPolicy(ctx context.Context, up mailstore.SecurityPolicyUpdate) (*mailstore.SecurityPolicy, error)
	// SecondFactorRequired reports whether the user must sign in with a second
	// factor: they have one, or their domain or the server requires one.
	SecondFactorRequired(ctx context.Context, u *mailstore.User) (bool, error)
	// GetSecondFactorStatus returns the second factor status of a user.
	GetSecondFactorStatus(ctx context.Context, u *mailstore.User) (*mailstore.SecondFactorStatus, error)
	// StartTOTP makes a new, unconfirmed authenticator secret for the user at
	// address (replacing an unconfirmed one); issuer names the server in the
	// app.
	StartTOTP(ctx context.Context, address, issuer string) (*mailstore.TOTPEnrolment, error)
	// ConfirmTOTP turns the user's new authenticator on with a code from it
	// and returns their recovery codes, shown only this once.
	ConfirmTOTP(ctx context.Context, address, code string) ([]string, error)
	// VerifySecondFactor checks the second factor of a sign-in of the user
	// with ID userID: a code of their authenticator (FactorTOTP), accepted
	// once per time step, or one of their recovery codes (FactorRecoveryCode),
	// which is then used up.
	VerifySecondFactor(ctx context.Context, userID int64, kind, code string) (int, error)
	// RemoveSecondFactor turns the user's two-factor sign-in off: their
	// authenticator, passkeys and recovery codes are deleted and their
	// sessions end.
	RemoveSecondFactor(ctx context.Context, address string) error
	// RegenerateRecoveryCodes replaces the recovery codes of the user with ID
	// userID with new ones, returned to be shown once; the old ones stop
	// working.
	RegenerateRecoveryCodes(ctx context.Context, userID int64) ([]string, error)
	// AddPasskey stores a new passkey of the user with ID userID (p.UserID is
	// set).
	AddPasskey(ctx context.Context, userID int64, p *mailstore.Passkey) ([]string, error)
	// ListPasskeys returns the passkeys of the user with ID userID, oldest
	// first.
	ListPasskeys(ctx context.Context, userID int64) ([]mailstore.Passkey, error)
	// PasskeyByCredentialID returns the passkey with credential ID id (for a
	// sign-in with a discoverable passkey, which names no account).
	PasskeyByCredentialID(ctx context.Context, id []byte) (*mailstore.Passkey, error)
	// RecordPasskeyUse stores the signature counter of an accepted assertion
	// of the passkey id, on the condition that the counter stored is still the
	// one the check compared it with (previous): of two sign-ins racing with
	// assertions of the same count, one wins.
	RecordPasskeyUse(ctx context.Context, id int64, previous uint32, use mailstore.PasskeyUse) error
	// DeletePasskey removes the passkey id of the user with ID userID.
	DeletePasskey(ctx context.Context, userID, id int64) error
	// CreateAppPassword makes a new app password for the user at address and
	// returns it with the password, which is not stored and cannot be shown
	// again.
	CreateAppPassword(ctx context.Context, address string, na mailstore.NewAppPassword) (*mailstore.AppPassword, string, error)
	// ListAppPasswords returns the app passwords of the user at address in
	// creation order.
	ListAppPasswords(ctx context.Context, address string) ([]mailstore.AppPassword, error)
	// DeleteAppPassword revokes app password id of the user at address.
	DeleteAppPassword(ctx context.Context, address string, id int64) error
	// RecordSignInPlace notes that the user with ID userID signed in from ip
	// and reports whether that is a new place for an account that had signed
	// in from somewhere before (the first place of all is no news).
	RecordSignInPlace(ctx context.Context, userID int64, ip netip.Addr) (bool, error)
	// GetUserEncryption returns how the mail of the user at address is
	// encrypted.
	GetUserEncryption(ctx context.Context, address string) (*mailstore.UserEncryption, error)
	// CreateDomainRecoveryKey makes a new recovery key for the domain and
	// returns its private key, which is not stored: the administrator keeps it
	// offline and gives it to reset a password without losing the user's mail.
	CreateDomainRecoveryKey(ctx context.Context, name string) (string, *mailstore.Domain, error)
	// DeleteDomainRecoveryKey removes the domain's recovery key and every copy
	// of its users' keys made for it: from then on a password reset by an
	// administrator makes a user's old mail unreadable.
	DeleteDomainRecoveryKey(ctx context.Context, name string) (*mailstore.Domain, error)
}

// Mail is what the service reads and changes of the users' mail:
// mailboxes, appends, per-user seen flags of shared mailboxes, import
// jobs, and the sealing of stored bodies with the server key. It includes
// what an import run needs (importer.Store).
type Mail interface {
	importer.Store
	// Append stores a message into a user's mailbox (IMAP APPEND), enforcing
	// the quota.
	Append(ctx context.Context, userID int64, mailbox string, r io.Reader, flags []string, date time.Time) (*mailstore.AppendResult, error)
	// PrivateSeen reports whether a mailbox's \Seen is private per user.
	PrivateSeen(ctx context.Context, mailboxID int64) (bool, error)
	// SetPrivateSeen makes a mailbox's \Seen private per user or shared by all
	// its users.
	SetPrivateSeen(ctx context.Context, mailboxID int64, private bool) error
	// GetImportJob returns an import job by its ID.
	GetImportJob(ctx context.Context, id int64) (*mailstore.ImportJob, error)
	// ListImportJobs returns a user's import jobs, the newest first.
	ListImportJobs(ctx context.Context, userID int64) ([]mailstore.ImportJob, error)
	// CancelImportJob marks a queued or running job cancelled and drops its
	// secret; the runner notices and stops.
	CancelImportJob(ctx context.Context, id int64) error
	// SealStatus scans the blob folder and counts sealed and plaintext bodies.
	SealStatus(ctx context.Context) (mailstore.SealStatus, error)
	// SealExisting encrypts every plaintext body that a message, a queued or a
	// held message references, one at a time, while the store is in use: each
	// sealed body is written beside, made durable and renamed over the
	// plaintext one (then its folder is synced), so a reader sees either the
	// old file or the new one, and a crash at any point loses nothing; running
	// SealExisting again resumes (sealed bodies are skipped).
	SealExisting(ctx context.Context, progress func(mailstore.SealStatus)) (mailstore.SealStatus, error)
}

// Quarantine holds the messages the filters held back.
type Quarantine interface {
	// ListQuarantine returns held messages, the most recent first.
	ListQuarantine(ctx context.Context, f mailstore.QuarantineFilter) ([]mailstore.QuarantinedMessage, error)
	// CountQuarantine returns how many messages ListQuarantine would return
	// without Limit and Offset.
	CountQuarantine(ctx context.Context, f mailstore.QuarantineFilter) (int64, error)
	// GetQuarantined returns a held message's record.
	GetQuarantined(ctx context.Context, id int64) (*mailstore.QuarantinedMessage, error)
	// OpenQuarantined opens a held message's raw bytes (CRLF line endings).
	OpenQuarantined(ctx context.Context, id int64) (io.ReadCloser, error)
	// ReleaseQuarantined delivers a held message to the INBOX of each of its
	// recipients, as Deliver does but without enforcing quotas (an
	// administrator's decision) and keeping the time it was received, and
	// removes it from the quarantine.
	ReleaseQuarantined(ctx context.Context, id int64) error
	// DeleteQuarantined removes a held message and frees its body.
	DeleteQuarantined(ctx context.Context, id int64) error
}

// SieveScripts are the users' and the domains' Sieve scripts.
type SieveScripts interface {
	// ListSieveScripts returns a user's scripts ordered by name, without their
	// content.
	ListSieveScripts(ctx context.Context, address string) ([]mailstore.SieveScript, error)
	// GetSieveScript returns one of a user's scripts with its content.
	GetSieveScript(ctx context.Context, address, name string) (*mailstore.SieveScript, error)
	// PutSieveScript creates or replaces a user's script.
	PutSieveScript(ctx context.Context, address, name, content string, maxScripts int) error
	// RenameSieveScript renames a user's script, keeping its active flag; a
	// script of the new name already there gives core.ErrExists.
	RenameSieveScript(ctx context.Context, address, oldName, newName string) error
	// ActivateSieveScript makes name the user's one active script; "" leaves
	// the user with none active.
	ActivateSieveScript(ctx context.Context, address, name string) error
	// DeleteSieveScript removes a user's script.
	DeleteSieveScript(ctx context.Context, address, name string) error
	// DomainSieveScript returns a domain's policy script, or nil if it has
	// none.
	DomainSieveScript(ctx context.Context, domain string) (*mailstore.SieveScript, error)
	// PutDomainSieveScript sets a domain's policy script.
	PutDomainSieveScript(ctx context.Context, domain, content string) error
	// DeleteDomainSieveScript removes a domain's policy script; a domain
	// without one gives core.ErrNotFound.
	DeleteDomainSieveScript(ctx context.Context, domain string) error
}

// TableLender is what the store lends the other owners of tables in its
// database that the service runs (API tokens and sessions, the audit log,
// statistics): their reads and writes (db.Tables), the accounts tokens
// belong to (tokens.Accounts), and a say when credentials change.
type TableLender interface {
	db.Tables
	tokens.Accounts
	// SetCredentialRevoker registers r under name (replacing the one of that
	// name): whenever an account's password changes, its second factor is
	// reset, it is disabled or deleted, r runs in the same transaction.
	SetCredentialRevoker(name string, r mailstore.CredentialRevoker)
}

// The mailstore is the service's store.
var _ Store = (*mailstore.Store)(nil)
