package service

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// Passkeys (WebAuthn, https://www.w3.org/TR/webauthn-3/) with
// github.com/go-webauthn/webauthn: a user registers passkeys on "My
// account"; a sign-in whose password was right takes an assertion of one
// as its second factor; a discoverable passkey signs in on its own (it
// proves possession and, being verified by PIN or biometrics on the
// device, the user). Each ceremony's challenge is kept here, in memory,
// for ceremonyTTL and works once: a replayed assertion finds no
// ceremony.

// ceremonyTTL is how long a WebAuthn ceremony may take.
const ceremonyTTL = 5 * time.Minute

// maxCeremonies caps the ceremonies waiting at once; of them, those of
// passwordless sign-ins, which anyone may begin, are capped lower, so that
// a flood of those cannot stop registrations or second steps (which take
// a session or a right password).
const (
	maxCeremonies       = 10000
	maxSignInCeremonies = maxCeremonies / 2
)

// userHandleSize is the length of a new WebAuthn user handle.
const userHandleSize = 32

// ErrPasskeysOff is returned when the server has no WebAuthn relying
// party configured (WithPasskeys).
var ErrPasskeysOff = fmt.Errorf("passkeys are not set up on this server (configure --webauthn-origins): %w", core.ErrConflict)

// PasskeyConfig is the WebAuthn relying party: its ID (a domain name, the
// dashboard's host or a suffix of it; "localhost" in tests) and the
// origins the dashboard is served from ("https://mail.example.com",
// "https://mail.example.com:8443").
type PasskeyConfig struct {
	RPID    string
	Origins []string
	// DisplayName names the server in the browser's passkey dialogs.
	DisplayName string
}

// Ceremony purposes.
const (
	purposeRegister     = "register"
	purposeSecondFactor = "second-factor"
	purposeSignIn       = "sign-in"
)

// ceremony is a WebAuthn ceremony begun and not yet finished.
type ceremony struct {
	purpose string
	userID  int64  // 0 for a discoverable sign-in
	handle  []byte // the user handle a registration makes a credential for
	session webauthn.SessionData
	expires time.Time
}

// passkeys is the relying party and its ceremonies in progress.
type passkeys struct {
	wa *webauthn.WebAuthn

	mu         sync.Mutex
	ceremonies map[string]ceremony // by challenge
	signIns    int                 // of them, passwordless sign-ins
}

// remove forgets the ceremony of challenge; p.mu is held.
func (p *passkeys) remove(challenge string, c ceremony) {
	delete(p.ceremonies, challenge)
	if c.purpose == purposeSignIn {
		p.signIns--
	}
}

// WithPasskeys sets up the WebAuthn relying party. Origins must be http(s)
// URLs whose host is the RP ID or below it; plain http is accepted for
// localhost only (browsers refuse WebAuthn elsewhere without TLS).
func (s *Service) WithPasskeys(cfg PasskeyConfig) error {
	rpID := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(cfg.RPID), "."))
	if rpID == "" {
		return errors.New("passkeys: no relying party ID (the dashboard's host name)")
	}
	if len(cfg.Origins) == 0 {
		return errors.New("passkeys: no dashboard origins")
	}
	var origins []string
	for _, o := range cfg.Origins {
		u, err := url.Parse(strings.TrimSpace(o))
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("passkeys: origin %q is not scheme://host[:port]", o)
		}
		host := strings.ToLower(u.Hostname())
		if host != rpID && !strings.HasSuffix(host, "."+rpID) {
			return fmt.Errorf("passkeys: origin %q is not on %s (the relying party ID)", o, rpID)
		}
		if u.Scheme == "http" && host != "localhost" && !strings.HasSuffix(host, ".localhost") {
			return fmt.Errorf("passkeys: origin %q: browsers use passkeys over https only (http on localhost)", o)
		}
		origins = append(origins, u.Scheme+"://"+strings.ToLower(u.Host))
	}
	name := cfg.DisplayName
	if name == "" {
		name = "Yubin " + rpID
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          rpID,
		RPDisplayName: name,
		RPOrigins:     origins,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL},
		},
	})
	if err != nil {
		return fmt.Errorf("passkeys: %w", err)
	}
	s.passkeys.Store(&passkeys{wa: wa, ceremonies: map[string]ceremony{}})
	return nil
}

// PasskeysEnabled reports whether the server takes passkeys.
func (s *Service) PasskeysEnabled() bool { return s.passkeys.Load() != nil }

// start keeps a new ceremony under its challenge.
func (p *passkeys) start(c ceremony) error {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ceremonies) >= maxCeremonies/2 || p.signIns >= maxSignInCeremonies/2 {
		for k, v := range p.ceremonies {
			if now.After(v.expires) {
				p.remove(k, v)
			}
		}
	}
	if len(p.ceremonies) >= maxCeremonies || (c.purpose == purposeSignIn && p.signIns >= maxSignInCeremonies) {
		return fmt.Errorf("too many passkey ceremonies under way; try again in a few minutes: %w", core.ErrConflict)
	}
	c.expires = now.Add(ceremonyTTL)
	if old, ok := p.ceremonies[c.session.Challenge]; ok {
		p.remove(c.session.Challenge, old)
	}
	p.ceremonies[c.session.Challenge] = c
	if c.purpose == purposeSignIn {
		p.signIns++
	}
	return nil
}

// take removes and returns the ceremony of challenge if it has purpose,
// belongs to userID and has not expired.
func (p *passkeys) take(challenge, purpose string, userID int64) (ceremony, bool) {
	p.mu.Lock()
	c, ok := p.ceremonies[challenge]
	if ok {
		p.remove(challenge, c)
	}
	p.mu.Unlock()
	if !ok || c.purpose != purpose || c.userID != userID || time.Now().After(c.expires) {
		return ceremony{}, false
	}
	return c, true
}

// passkeyUser is a mail account as the WebAuthn library sees it.
type passkeyUser struct {
	handle []byte
	name   string
	creds  []webauthn.Credential
	keys   []mailstore.Passkey
}

func (u *passkeyUser) WebAuthnID() []byte                         { return u.handle }
func (u *passkeyUser) WebAuthnName() string                       { return u.name }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.name }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// passkeyByID returns the stored passkey of credential ID id.
func (u *passkeyUser) passkeyByID(id []byte) *mailstore.Passkey {
	for i := range u.keys {
		if string(u.keys[i].CredentialID) == string(id) {
			return &u.keys[i]
		}
	}
	return nil
}

// loadPasskeyUser returns the account with ID userID and its passkeys; a
// user without passkeys gets a new random handle.
func (s *Service) loadPasskeyUser(ctx context.Context, userID int64) (*passkeyUser, error) {
	u, err := s.store.GetUserByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	keys, err := s.store.ListPasskeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	pu := &passkeyUser{name: u.Address, keys: keys}
	for _, k := range keys {
		if pu.handle == nil {
			pu.handle = k.UserHandle
		}
		pu.creds = append(pu.creds, credentialOf(k))
	}
	if pu.handle == nil {
		pu.handle = make([]byte, userHandleSize)
		if _, err := rand.Read(pu.handle); err != nil {
			return nil, fmt.Errorf("passkey user handle: %w", err)
		}
	}
	return pu, nil
}

// credentialOf is a stored passkey as the WebAuthn library's record.
func credentialOf(k mailstore.Passkey) webauthn.Credential {
	var ts []protocol.AuthenticatorTransport
	for _, t := range k.TransportList() {
		ts = append(ts, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{
		ID:                k.CredentialID,
		PublicKey:         k.PublicKey,
		AttestationType:   k.AttestationType,
		AttestationFormat: k.AttestationFormat,
		Transport:         ts,
		Flags: webauthn.CredentialFlags{
			UserPresent: k.UserPresent, UserVerified: k.UserVerified,
			BackupEligible: k.BackupEligible, BackupState: k.BackupState,
		},
		Authenticator: webauthn.Authenticator{AAGUID: k.AAGUID, SignCount: uint32(k.SignCount), Attachment: protocol.AuthenticatorAttachment(k.Attachment)},
	}
}

// selfPasskeys checks that a is a mail account signed in with a password,
// which may see and remove its own passkeys.
func selfPasskeys(a Actor) error {
	if err := a.signedInSelf(a.Email, "passkeys"); err != nil || a.UserID == 0 {
		return forbidden("passkeys belong to mail accounts signed in with a password")
	}
	return nil
}

// ownPasskeys checks that a may register passkeys of its own account.
func (s *Service) ownPasskeys(a Actor) error {
	if err := selfPasskeys(a); err != nil {
		return err
	}
	if s.passkeys.Load() == nil {
		return ErrPasskeysOff
	}
	return nil
}

// ListPasskeys returns the passkeys of the actor's own account.
func (s *Service) ListPasskeys(ctx context.Context, a Actor) ([]mailstore.Passkey, error) {
	if err := selfPasskeys(a); err != nil {
		return nil, err
	}
	return s.store.ListPasskeys(ctx, a.UserID)
}

// BeginPasskeyRegistration starts registering a new passkey of the
// actor's own account: the options for navigator.credentials.create(). A
// discoverable credential is preferred (it can then sign in without a
// password), and the account's passkeys are excluded.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, a Actor) (*protocol.CredentialCreation, error) {
	if err := s.ownPasskeys(a); err != nil {
		return nil, err
	}
	if a.ReadOnly {
		return nil, forbidden("this token is read-only")
	}
	pu, err := s.loadPasskeyUser(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	if len(pu.keys) >= mailstore.MaxPasskeysPerUser {
		return nil, fmt.Errorf("an account may have %d passkeys; remove one first: %w", mailstore.MaxPasskeysPerUser, core.ErrConflict)
	}
	opts, session, err := s.passkeys.Load().wa.BeginRegistration(pu,
		webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
	)
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	if err := s.passkeys.Load().start(ceremony{purpose: purposeRegister, userID: a.UserID, handle: pu.handle, session: *session}); err != nil {
		return nil, err
	}
	return opts, nil
}

// FinishPasskeyRegistration checks the browser's answer to a registration
// begun with BeginPasskeyRegistration (the PublicKeyCredential as JSON)
// and stores the passkey under name. When it is the account's first
// second factor, the recovery codes are returned (shown once) and the
// account's sessions end, as when an authenticator app is turned on.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, a Actor, name string, credential json.RawMessage) (*mailstore.Passkey, []string, error) {
	if err := s.ownPasskeys(a); err != nil {
		return nil, nil, err
	}
	name, err := mailstore.ValidPasskeyName(name)
	if err != nil {
		return nil, nil, err
	}
	ctx, err = a.write(ctx)
	if err != nil {
		return nil, nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		return nil, nil, core.Invalid("credential", "is not a WebAuthn registration response: "+protocolDetail(err))
	}
	c, ok := s.passkeys.Load().take(parsed.Response.CollectedClientData.Challenge, purposeRegister, a.UserID)
	if !ok {
		return nil, nil, core.Invalid("credential", "answers no registration under way (it expired or was used); start again")
	}
	pu, err := s.loadPasskeyUser(ctx, a.UserID)
	if err != nil {
		return nil, nil, err
	}
	pu.handle = c.handle
	cred, err := s.passkeys.Load().wa.CreateCredential(pu, c.session, parsed)
	if err != nil {
		return nil, nil, core.Invalid("credential", "was not accepted: "+protocolDetail(err))
	}
	var ts []string
	for _, t := range cred.Transport {
		ts = append(ts, string(t))
	}
	pk := &mailstore.Passkey{
		Name: name, CredentialID: cred.ID, UserHandle: c.handle, PublicKey: cred.PublicKey,
		AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat,
		AAGUID: cred.Authenticator.AAGUID, Transports: strings.Join(ts, ","),
		SignCount:   int64(cred.Authenticator.SignCount),
		UserPresent: cred.Flags.UserPresent, UserVerified: cred.Flags.UserVerified,
		BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		Attachment: string(cred.Authenticator.Attachment),
	}
	codes, err := s.store.AddPasskey(ctx, a.UserID, pk)
	if err != nil {
		return nil, nil, err
	}
	return pk, codes, nil
}

// DeletePasskey removes a passkey of the actor's own account; the last
// second factor goes only with the password (DisableSecondFactor).
func (s *Service) DeletePasskey(ctx context.Context, a Actor, id int64) error {
	if err := selfPasskeys(a); err != nil {
		return err
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return err
	}
	return s.store.DeletePasskey(ctx, a.UserID, id)
}

// BeginPasskeySecondFactor starts the second step of a sign-in with a
// passkey of the user actor a, whose password was right: the options for
// navigator.credentials.get(), allowing the account's passkeys. A user
// without passkeys gets core.ErrConflict.
func (s *Service) BeginPasskeySecondFactor(ctx context.Context, a Actor) (*protocol.CredentialAssertion, error) {
	if s.passkeys.Load() == nil {
		return nil, ErrPasskeysOff
	}
	if a.UserID == 0 {
		return nil, fmt.Errorf("no passkeys for %s: %w", a.Email, core.ErrConflict)
	}
	pu, err := s.loadPasskeyUser(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	if len(pu.keys) == 0 {
		return nil, fmt.Errorf("%s has no passkey: %w", a.Email, core.ErrConflict)
	}
	opts, session, err := s.passkeys.Load().wa.BeginLogin(pu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("begin passkey sign-in: %w", err)
	}
	if err := s.passkeys.Load().start(ceremony{purpose: purposeSecondFactor, userID: a.UserID, session: *session}); err != nil {
		return nil, err
	}
	return opts, nil
}

// FinishPasskeySecondFactor checks the assertion (the PublicKeyCredential
// as JSON) of the second step begun with BeginPasskeySecondFactor. Any
// failure (a wrong signature, a replay, a counter that went back) is
// core.ErrAuthFailed.
func (s *Service) FinishPasskeySecondFactor(ctx context.Context, a Actor, credential json.RawMessage) error {
	if s.passkeys.Load() == nil {
		return ErrPasskeysOff
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return fmt.Errorf("passkey assertion of %s: %s: %w", a.Email, protocolDetail(err), core.ErrAuthFailed)
	}
	c, ok := s.passkeys.Load().take(parsed.Response.CollectedClientData.Challenge, purposeSecondFactor, a.UserID)
	if !ok {
		return fmt.Errorf("passkey assertion of %s answers no sign-in under way: %w", a.Email, core.ErrAuthFailed)
	}
	pu, err := s.loadPasskeyUser(ctx, a.UserID)
	if err != nil {
		return err
	}
	cred, err := s.passkeys.Load().wa.ValidateLogin(pu, c.session, parsed)
	if err != nil {
		return fmt.Errorf("passkey assertion of %s: %s: %w", a.Email, protocolDetail(err), core.ErrAuthFailed)
	}
	return s.recordAssertion(ctx, a.Email, pu, cred, a.RemoteIP)
}

// recordAssertion refuses an assertion whose signature counter did not
// move on (a cloned authenticator, or a replay) and stores the new count.
func (s *Service) recordAssertion(ctx context.Context, address string, pu *passkeyUser, cred *webauthn.Credential, remoteIP string) error {
	pk := pu.passkeyByID(cred.ID)
	if pk == nil {
		return fmt.Errorf("passkey of %s vanished: %w", address, core.ErrAuthFailed)
	}
	if cred.Authenticator.CloneWarning {
		s.log.Warn("passkey signature counter did not increase: the authenticator may be cloned; sign-in refused",
			"user", address, "passkey", pk.Name, "stored", pk.SignCount, "presented", cred.Authenticator.SignCount)
		return fmt.Errorf("passkey %q of %s: signature counter %d not above %d: %w", pk.Name, address, cred.Authenticator.SignCount, pk.SignCount, core.ErrAuthFailed)
	}
	return s.store.RecordPasskeyUse(ctx, pk.ID, uint32(pk.SignCount), mailstore.PasskeyUse{
		SignCount: cred.Authenticator.SignCount, UserVerified: cred.Flags.UserVerified,
		BackupState: cred.Flags.BackupState, RemoteIP: remoteIP,
	})
}

// BeginPasskeySignIn starts a sign-in with a discoverable passkey, without
// an address or password: the options for navigator.credentials.get(),
// asking the authenticator to verify the user (PIN or biometrics).
func (s *Service) BeginPasskeySignIn(ctx context.Context) (*protocol.CredentialAssertion, error) {
	if s.passkeys.Load() == nil {
		return nil, ErrPasskeysOff
	}
	opts, session, err := s.passkeys.Load().wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("begin passkey sign-in: %w", err)
	}
	if err := s.passkeys.Load().start(ceremony{purpose: purposeSignIn, session: *session}); err != nil {
		return nil, err
	}
	return opts, nil
}

// FinishPasskeySignIn checks the assertion of a sign-in begun with
// BeginPasskeySignIn and returns the signed-in user. account is the
// address of the passkey's owner when the passkey is known (for the login
// throttle), also on failure. Any failure is core.ErrAuthFailed.
func (s *Service) FinishPasskeySignIn(ctx context.Context, credential json.RawMessage, remoteIP string) (a Actor, account string, err error) {
	if s.passkeys.Load() == nil {
		return Actor{}, "", ErrPasskeysOff
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return Actor{}, "", fmt.Errorf("passkey sign-in: %s: %w", protocolDetail(err), core.ErrAuthFailed)
	}
	var pu *passkeyUser
	var owner *mailstore.User
	if pk, err := s.store.PasskeyByCredentialID(ctx, parsed.RawID); err == nil {
		if owner, err = s.store.GetUserByID(ctx, pk.UserID); err == nil {
			account = owner.Address
			pu, err = s.loadPasskeyUser(ctx, owner.ID)
			if err != nil {
				return Actor{}, account, err
			}
		}
	} else if !errors.Is(err, core.ErrNotFound) {
		return Actor{}, "", err
	}
	c, ok := s.passkeys.Load().take(parsed.Response.CollectedClientData.Challenge, purposeSignIn, 0)
	if !ok {
		return Actor{}, account, fmt.Errorf("passkey sign-in answers no sign-in under way: %w", core.ErrAuthFailed)
	}
	if pu == nil {
		return Actor{}, "", fmt.Errorf("passkey sign-in with an unknown passkey: %w", core.ErrAuthFailed)
	}
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		if string(userHandle) != string(pu.handle) {
			return nil, errors.New("the user handle is not the passkey's")
		}
		return pu, nil
	}
	_, cred, err := s.passkeys.Load().wa.ValidatePasskeyLogin(handler, c.session, parsed)
	if err != nil {
		return Actor{}, account, fmt.Errorf("passkey sign-in of %s: %s: %w", account, protocolDetail(err), core.ErrAuthFailed)
	}
	if err := s.recordAssertion(ctx, account, pu, cred, remoteIP); err != nil {
		return Actor{}, account, err
	}
	a, err = s.activeUserActor(ctx, owner)
	return a, account, err
}

// protocolDetail is what the WebAuthn library says of a failed check.
func protocolDetail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if pe.Details != "" {
			return pe.Details
		}
		return pe.Type
	}
	return err.Error()
}
