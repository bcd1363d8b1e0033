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
	errAuthSyntax    = smtpErr(501, smtp.EnhancedCode{5, 5, 2}, "Malformed authentication response")
)

// AuthMechanisms implements smtp.AuthSession: PLAIN and LOGIN on a
// submission server where logging in is allowed (TLS, or the InsecureAuth
// policy), nothing otherwise (no AUTH in the EHLO reply).
func (s *session) AuthMechanisms() []string {
	if s.srv.sub == nil || !s.authAllowed() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth implements smtp.AuthSession.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.srv.sub == nil {
		return nil, smtp.ErrAuthUnsupported
	}
	if !s.authAllowed() {
		s.log.Info("AUTH refused without TLS")
		return nil, errAuthNeedsTLS
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				// No logging in as someone else.
				return s.loginFailed(username, "authorization identity differs")
			}
			return s.login(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{login: s.login}, nil
	default:
		return nil, smtp.ErrAuthUnknownMechanism
	}
}

// login checks a user name and password against the store, through the
// AuthLimiter, and on success makes the user the session's.
func (s *session) login(username, password string) error {
	lim := s.srv.sub.limiter
	ip := s.remoteIP()
	if lim != nil && !lim.Check(ip, username) {
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
		lim.Succeeded(ip, username)
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
		lim.Failed(ip, username)
		sleepCtx(s.ctx, lim.Delay(ip, username))
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

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login), which go-sasl implements for clients only
// and Outlook still uses: the server asks "Username:" and "Password:" as
// challenges; a client may send the user name as the initial response.
type loginServer struct {
	login    func(username, password string) error
	username string
	step     int // 0: nothing received, 1: user name received, 2: done
}

// Next implements sasl.Server.
func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		if response == nil {
			// No initial response: ask for the user name, without
			// consuming this step.
			l.step = -1
			return []byte("Username:"), false, nil
		}
		fallthrough
	case -1:
		if len(response) == 0 {
			return nil, true, errAuthSyntax
		}
		l.username = string(response)
		l.step = 1
		return []byte("Password:"), false, nil
	case 1:
		l.step = 2
		return nil, true, l.login(l.username, string(response))
	default:
		return nil, true, sasl.ErrUnexpectedClientResponse
	}
}
