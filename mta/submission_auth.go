package mta

import (
	"context"
	"errors"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// The replies of AUTH (RFC 4954 §6).
var (
	errAuthNeedsTLS  = smtpErr(538, smtp.EnhancedCode{5, 7, 11}, "Encryption required: use STARTTLS first")
	errAuthInvalid   = smtpErr(535, smtp.EnhancedCode{5, 7, 8}, "Authentication credentials invalid")
	errAuthThrottled = smtpErr(454, smtp.EnhancedCode{4, 7, 0}, "Too many failed logins, please try again later")
	errAuthTemp      = smtpErr(454, smtp.EnhancedCode{4, 7, 0}, "Temporary authentication failure, please try again later")
)

// AuthMechanisms implements smtp.AuthSession and smtpserver.AuthSession:
// PLAIN and LOGIN on a submission server where logging in is allowed
// (TLS, or the InsecureAuth policy), nothing otherwise (no AUTH in the
// EHLO reply). The submission engine runs the exchanges and calls
// Authenticate (submission_engine.go).
func (s *session) AuthMechanisms() []string {
	if s.srv.sub == nil || !s.authAllowed() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth implements smtp.AuthSession for the intake, which go-smtp serves
// and which offers no AUTH.
func (s *session) Auth(string) (sasl.Server, error) {
	return nil, smtp.ErrAuthUnsupported
}

// login checks a user name and password against the store, through the
// AuthLimiter, and on success makes the user the session's.
func (s *session) login(username, password string) error {
	lim := s.srv.sub.limiter
	ip := s.remoteIP()
	if lim != nil && !lim.Check(s.ctx, ip, username) {
		s.log.Warn("SMTP login refused: too many failed logins", "user", username)
		return errAuthThrottled
	}
	ctx, cancel := context.WithTimeout(s.ctx, lookupTimeout)
	defer cancel()
	u, err := s.srv.opts.Store.AuthenticateMail(core.WithRemoteAddr(ctx, ip), username, password, mailstore.ProtocolSubmission)
	if errors.Is(err, core.ErrAuthFailed) {
		return s.loginFailed(username, "wrong credentials")
	}
	if err != nil {
		s.log.Error("SMTP login failed", "user", username, "err", err)
		return errAuthTemp
	}
	if lim != nil {
		lim.Succeeded(s.ctx, ip, username)
	}
	s.user = u
	s.info.AuthUser = u.Address
	s.log = s.log.With("user", u.Address)
	s.log.Info("SMTP login")
	return nil
}

// loginFailed records a failed login, waits the AuthLimiter's delay and
// returns the reply.
func (s *session) loginFailed(username, why string) error {
	s.log.Info("SMTP login failed", "user", username, "reason", why)
	if lim := s.srv.sub.limiter; lim != nil {
		ip := s.remoteIP()
		lim.Failed(s.ctx, ip, username)
		sleepCtx(s.ctx, lim.Delay(s.ctx, ip, username))
	}
	return errAuthInvalid
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
