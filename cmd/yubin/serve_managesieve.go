package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/managesieve"
)

// startManageSieve starts the ManageSieve server (RFC 5804, STARTTLS) if
// its listener is configured.
func (w *wiring) startManageSieve() {
	b, ok := w.bound["managesieve"]
	if !ok {
		return
	}
	srv := managesieve.NewServer(managesieve.Options{
		Backend:       &sieveBackend{store: w.store, svc: service.New(w.store, w.log)},
		Hostname:      w.cfg.Hostname,
		TLSConfig:     w.tlsConf,
		Logger:        w.log,
		AuthLimiter:   w.authLimiter,
		ConnLimiter:   w.connCaps("managesieve"),
		InsecureAuth:  w.insecureAuth(),
		MaxScriptSize: service.MaxSieveScriptBytes,
		MaxRedirects:  service.MaxSieveRedirects,
	})
	w.sup.serve(b, w.listener(b), srv.Serve)
	w.sup.add(server{name: "managesieve", stop: srv.Shutdown})
}

// sieveBackend is the ManageSieve server's Backend: mail accounts log in
// with their password, as over IMAP, and their scripts are managed through
// the service layer, with the same checks and limits as the REST API.
type sieveBackend struct {
	store *mailstore.Store
	svc   *service.Service
}

// Authenticate implements managesieve.Backend.
func (b *sieveBackend) Authenticate(ctx context.Context, user, password string) (managesieve.Scripts, error) {
	u, err := b.store.AuthenticateMail(ctx, user, password, mailstore.ProtocolManageSieve)
	if err != nil {
		if errors.Is(err, core.ErrAuthFailed) {
			return nil, fmt.Errorf("%w: %w", managesieve.ErrAuthFailed, err)
		}
		return nil, err
	}
	return &userScripts{svc: b.svc, address: u.Address, credentialVersion: u.CredentialVersion}, nil
}

// userScripts are the scripts of one logged-in mail account.
type userScripts struct {
	svc               *service.Service
	address           string
	credentialVersion int64 // at login; a change ends the session
}

// actor returns the account's current actor, so that a disabled account
// or a changed password ends the session at its next command.
func (u *userScripts) actor(ctx context.Context) (service.Actor, error) {
	a, err := u.svc.Resolve(ctx, service.KindUser, u.address)
	if err != nil {
		if errors.Is(err, core.ErrAuthFailed) {
			return service.Actor{}, fmt.Errorf("%w: %w", managesieve.ErrRevoked, err)
		}
		return service.Actor{}, err
	}
	if a.CredentialVersion != u.credentialVersion {
		return service.Actor{}, fmt.Errorf("%w: %s", managesieve.ErrRevoked, u.address)
	}
	a.Source = "managesieve"
	return a, nil
}

// sieveError maps the service's errors to those of package managesieve.
// overQuota is the error a core.ErrOverQuota stands for in this call.
func sieveError(err error, overQuota error) error {
	var se *service.SieveScriptError
	var ve *core.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return &managesieve.InvalidScriptError{Msg: se.Error()}
	case errors.As(err, &ve):
		return &managesieve.InvalidScriptError{Msg: ve.Error()}
	case errors.Is(err, core.ErrOverQuota) && overQuota != nil:
		return fmt.Errorf("%w: %w", overQuota, err)
	case errors.Is(err, core.ErrNotFound):
		return fmt.Errorf("%w: %w", managesieve.ErrNonexistent, err)
	case errors.Is(err, core.ErrConflict):
		return fmt.Errorf("%w: %w", managesieve.ErrActive, err)
	case errors.Is(err, core.ErrExists):
		return fmt.Errorf("%w: %w", managesieve.ErrAlreadyExists, err)
	}
	return err
}

// quotaError says which limit a script of size octets runs into.
func quotaError(size int64) error {
	if size > service.MaxSieveScriptBytes {
		return managesieve.ErrQuotaMaxSize
	}
	return managesieve.ErrQuotaMaxScripts
}

// Owner implements managesieve.Scripts.
func (u *userScripts) Owner() string { return u.address }

// List implements managesieve.Scripts.
func (u *userScripts) List(ctx context.Context) ([]managesieve.ScriptInfo, error) {
	a, err := u.actor(ctx)
	if err != nil {
		return nil, err
	}
	list, err := u.svc.ListSieveScripts(ctx, a, u.address)
	if err != nil {
		return nil, sieveError(err, nil)
	}
	out := make([]managesieve.ScriptInfo, len(list))
	for i, s := range list {
		out[i] = managesieve.ScriptInfo{Name: s.Name, Active: s.Active}
	}
	return out, nil
}

// Get implements managesieve.Scripts.
func (u *userScripts) Get(ctx context.Context, name string) (string, error) {
	a, err := u.actor(ctx)
	if err != nil {
		return "", err
	}
	content, err := u.svc.GetSieveScript(ctx, a, u.address, name)
	return content, sieveError(err, nil)
}

// Put implements managesieve.Scripts. The service has no warnings to give.
func (u *userScripts) Put(ctx context.Context, name, content string) ([]string, error) {
	a, err := u.actor(ctx)
	if err != nil {
		return nil, err
	}
	err = u.svc.PutSieveScript(ctx, a, u.address, name, content)
	return nil, sieveError(err, quotaError(int64(len(content))))
}

// Check implements managesieve.Scripts.
func (u *userScripts) Check(ctx context.Context, content string) ([]string, error) {
	if _, err := u.actor(ctx); err != nil {
		return nil, err
	}
	if int64(len(content)) > service.MaxSieveScriptBytes {
		return nil, managesieve.ErrQuotaMaxSize
	}
	return nil, sieveError(u.svc.CheckSieveScript(ctx, content), nil)
}

// Delete implements managesieve.Scripts.
func (u *userScripts) Delete(ctx context.Context, name string) error {
	a, err := u.actor(ctx)
	if err != nil {
		return err
	}
	return sieveError(u.svc.DeleteSieveScript(ctx, a, u.address, name), nil)
}

// Rename implements managesieve.Scripts.
func (u *userScripts) Rename(ctx context.Context, oldName, newName string) error {
	a, err := u.actor(ctx)
	if err != nil {
		return err
	}
	return sieveError(u.svc.RenameSieveScript(ctx, a, u.address, oldName, newName), nil)
}

// SetActive implements managesieve.Scripts.
func (u *userScripts) SetActive(ctx context.Context, name string) error {
	a, err := u.actor(ctx)
	if err != nil {
		return err
	}
	return sieveError(u.svc.ActivateSieveScript(ctx, a, u.address, name), nil)
}

// HaveSpace implements managesieve.Scripts.
func (u *userScripts) HaveSpace(ctx context.Context, name string, size int64) error {
	a, err := u.actor(ctx)
	if err != nil {
		return err
	}
	return sieveError(u.svc.HaveSieveSpace(ctx, a, u.address, name, size), quotaError(size))
}
