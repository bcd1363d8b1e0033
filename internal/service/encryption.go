package service

import (
	"context"

	"github.com/yubinmail/yubin/mailstore"
)

// EncryptionStatus counts the message bodies encrypted at rest and those
// still in plaintext (server admins only).
func (s *Service) EncryptionStatus(ctx context.Context, a Actor) (mailstore.SealStatus, error) {
	if !a.IsAdmin() {
		return mailstore.SealStatus{}, forbidden("encryption status")
	}
	return s.store.SealStatus(ctx)
}

// EncryptExisting encrypts every plaintext message body in place, while
// the server keeps running (server admins only); see
// mailstore.Store.SealExisting. progress is called as it goes.
func (s *Service) EncryptExisting(ctx context.Context, a Actor, progress func(mailstore.SealStatus)) (mailstore.SealStatus, error) {
	if !a.IsAdmin() {
		return mailstore.SealStatus{}, forbidden("encrypting the mail")
	}
	if _, err := a.write(ctx); err != nil {
		return mailstore.SealStatus{}, err
	}
	st, err := s.store.SealExisting(ctx, progress)
	s.log.Info("encrypted message bodies at rest", "actor", a.Email, "bodies", st.Bodies, "sealed", st.Sealed, "plaintext", st.Plain, "err", err)
	return st, err
}

// CreateDomainRecoveryKey makes a new recovery key for a domain the actor
// manages (user-key mode) and returns its private key, shown this once:
// the administrator keeps it offline and gives it back to reset a
// password without losing the user's mail (see
// mailstore.Store.CreateDomainRecoveryKey).
func (s *Service) CreateDomainRecoveryKey(ctx context.Context, a Actor, domain string) (string, *mailstore.Domain, error) {
	if _, err := s.GetDomain(ctx, a, domain); err != nil {
		return "", nil, err
	}
	if a.TokenPrefix != "" {
		return "", nil, forbidden("API tokens cannot make recovery keys; sign in with a password")
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return "", nil, err
	}
	key, d, err := s.store.CreateDomainRecoveryKey(ctx, domain)
	if err == nil {
		s.log.Info("domain recovery key made", "actor", a.Email, "domain", d.Name, "public_key", d.RecoveryPublicKey)
	}
	return key, d, err
}

// DeleteDomainRecoveryKey removes a domain's recovery key and the copies
// of its users' keys made for it.
func (s *Service) DeleteDomainRecoveryKey(ctx context.Context, a Actor, domain string) (*mailstore.Domain, error) {
	if _, err := s.GetDomain(ctx, a, domain); err != nil {
		return nil, err
	}
	ctx, err := a.write(ctx)
	if err != nil {
		return nil, err
	}
	return s.store.DeleteDomainRecoveryKey(ctx, domain)
}

// UserEncryption says how the mail of an account (one the actor manages,
// or their own) is encrypted at rest, and what resetting its password
// would do to it: the API and the dashboard show it before a reset.
func (s *Service) UserEncryption(ctx context.Context, a Actor, address string) (*mailstore.UserEncryption, error) {
	u, err := s.GetUser(ctx, a, address)
	if err != nil {
		return nil, err
	}
	return s.store.GetUserEncryption(ctx, u.Address)
}
