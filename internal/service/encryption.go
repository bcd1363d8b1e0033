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
