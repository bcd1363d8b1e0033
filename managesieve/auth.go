package managesieve

import (
	"crypto/tls"
	"errors"
	"strings"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/sasl"
)

// handshakeTimeout bounds the TLS handshake after STARTTLS.
const handshakeTimeout = time.Minute

// cmdStartTLS runs STARTTLS (RFC 5804 §2.2): OK, the handshake, then the
// capabilities again, as they are over TLS.
func (s *session) cmdStartTLS(cmd *command) error {
	if _, err := args(cmd, 0, 0); err != nil {
		return err
	}
	if s.isTLS || s.srv.opts.TLSConfig == nil {
		return syntaxf("STARTTLS is not available")
	}
	// Anything the client sent after STARTTLS in the clear would be
	// taken as sent over TLS (CVE-2011-0411): refuse the session.
	if s.br.Buffered() > 0 {
		s.respond("BYE", "", "Data after STARTTLS before the TLS handshake")
		s.state = stateLogout
		return nil
	}
	s.respond("OK", "", "Begin TLS negotiation now")
	if !s.flush() {
		s.state = stateLogout
		return nil
	}
	tc := tls.Server(s.sc.Conn(), s.srv.opts.TLSConfig)
	_ = tc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.HandshakeContext(s.ctx); err != nil {
		s.log.Debug("ManageSieve STARTTLS handshake failed", "err", err)
		s.state = stateLogout
		s.bw.Reset(discard{}) // nothing more can be said in the clear
		return nil
	}
	_ = tc.SetDeadline(time.Time{})
	s.sc.Replace(tc)
	s.isTLS = true
	s.br.Reset(tc)
	s.bw.Reset(deadlineWriter{s})
	s.writeCapabilities()
	s.respond("OK", "", "TLS negotiation successful")
	return nil
}

// discard is a writer that drops everything.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// cmdAuthenticate runs AUTHENTICATE "PLAIN" (RFC 5804 §2.1, RFC 4616),
// with the initial response as an argument or after an empty challenge.
func (s *session) cmdAuthenticate(cmd *command) error {
	if len(cmd.args) < 1 || len(cmd.args) > 2 || (len(cmd.args) == 2 && cmd.args[1].kind != argString) {
		return syntaxf("AUTHENTICATE takes a mechanism name and an optional initial response")
	}
	mech := cmd.args[0].s // an atom is accepted too: some clients send PLAIN bare
	if !strings.EqualFold(mech, "PLAIN") {
		return syntaxf("Unsupported SASL mechanism %q; use PLAIN", truncate(mech, 40))
	}
	if !s.authAllowed() {
		s.respond("NO", "ENCRYPT-NEEDED", "Use STARTTLS before logging in")
		return nil
	}
	var resp string
	if len(cmd.args) == 2 {
		resp = cmd.args[1].s
	} else {
		var err error
		if resp, err = s.readSASLResponse(); err != nil {
			return err
		}
	}
	if resp == "*" {
		s.respond("NO", "", "Authentication cancelled")
		return nil
	}
	authz, user, pass, err := sasl.DecodePlain(resp)
	if err != nil {
		return syntaxf("Malformed PLAIN response")
	}
	if authz != "" && authz != user {
		s.respond("NO", "", "Cannot act as another user")
		return nil
	}
	s.login(user, pass)
	return nil
}

// readSASLResponse sends the empty challenge of PLAIN and reads the
// client's answer: one string on a line of its own.
func (s *session) readSASLResponse() (string, error) {
	s.line(`""`)
	if !s.flush() {
		s.state = stateLogout
		return "", errAnswered
	}
	if err := s.sc.StartWaiting(s.srv.opts.IdleTimeout); err != nil {
		s.handleReadError(err)
		s.state = stateLogout
		return "", errAnswered
	}
	s.r.lineBytes = 0
	resp, err := s.r.responseLine()
	err = s.sc.StopWaiting(err)
	var se *errSyntax
	if errors.As(err, &se) {
		err = s.r.skipCommand()
		if err == nil {
			return "", se
		}
	}
	if err != nil {
		// The connection broke, timed out or the server is shutting
		// down: say BYE where one is due, and end the session.
		s.handleReadError(err)
		s.state = stateLogout
		return "", errAnswered
	}
	return resp, nil
}

// errAnswered is returned by a command handler that has answered, and
// needs nothing more from dispatch.
var errAnswered = errors.New("answered")

// responseLine reads a line holding one string (a SASL client response).
func (r *reader) responseLine() (string, error) {
	if err := r.skipSpaces(); err != nil {
		return "", err
	}
	a, err := r.argument()
	if err != nil {
		return "", err
	}
	if a.kind != argString {
		return "", syntaxf("Expected the response as a quoted string or a literal")
	}
	if err := r.skipSpaces(); err != nil {
		return "", err
	}
	end, err := r.atEOL()
	if err != nil {
		return "", err
	}
	if !end {
		return "", syntaxf("Expected the end of the line after the response")
	}
	return a.s, nil
}

// login checks credentials, with the throttle of repeated failures shared
// with the other protocols.
func (s *session) login(user, pass string) {
	lim := s.srv.opts.AuthLimiter
	ip := limits.AddrIP(s.remote).Unmap()
	log := s.log.With("user", user)
	if lim != nil && !lim.Check(s.ctx, ip, user) {
		log.Warn("ManageSieve login refused: too many failed logins")
		s.respond("NO", "TRYLATER", "Too many failed logins; try again later")
		return
	}
	scripts, err := s.srv.opts.Backend.Authenticate(core.WithRemoteAddr(s.ctx, ip), user, pass)
	if err != nil {
		if !errors.Is(err, ErrAuthFailed) {
			log.Error("ManageSieve login failed", "err", err)
			s.respond("NO", "TRYLATER", "Cannot log in now; try again later")
			return
		}
		log.Info("ManageSieve login failed: wrong credentials")
		if lim != nil {
			lim.Penalize(s.ctx, ip, user)
		}
		s.respond("NO", "", "Authentication failed")
		return
	}
	if lim != nil {
		lim.Succeeded(s.ctx, ip, user)
	}
	s.scripts, s.state = scripts, stateAuth
	s.log = s.log.With("user", scripts.Owner())
	s.log.Info("ManageSieve login", "tls", s.isTLS)
	s.respond("OK", "", "Logged in")
}
