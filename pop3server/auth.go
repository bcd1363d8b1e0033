package pop3server

import (
	"errors"
	"strings"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/netutil"
	"github.com/yubinmail/yubin/internal/sasl"
)

// errNeedTLS is the answer to a login attempt where passwords may not be
// sent in clear text (RFC 3206: [AUTH] covers "without encryption").
const errNeedTLS = "-ERR [AUTH] logging in requires TLS: use STLS first"

// cmdUser takes the user name for PASS (RFC 1939 §7). Whether it exists
// is not revealed.
func (s *session) cmdUser(cmd command) {
	if !s.arity(cmd, 1, 1) {
		return
	}
	if !s.authAllowed() {
		s.reply(errNeedTLS)
		return
	}
	s.pendingUser = cmd.args[0]
	s.reply("+OK send your password")
}

// cmdPass logs in with the name from the USER just before. The password is
// the rest of the line and may contain spaces.
func (s *session) cmdPass(cmd command) {
	user := s.pendingUser
	s.pendingUser = ""
	switch {
	case !s.authAllowed():
		s.reply(errNeedTLS)
	case user == "":
		s.bad("-ERR send USER first")
	case cmd.rest == "":
		s.bad("-ERR syntax error in PASS")
	default:
		s.login(user, cmd.rest)
	}
}

// cmdAuth runs SASL authentication (RFC 5034) with the PLAIN mechanism
// (RFC 4616). Without arguments it lists the mechanisms, as clients of the
// older RFC 1734 expect.
func (s *session) cmdAuth(cmd command) {
	if !s.arity(cmd, 0, 2) {
		return
	}
	if len(cmd.args) == 0 {
		s.reply("+OK supported mechanisms follow")
		if s.authAllowed() {
			s.reply("PLAIN")
		}
		s.reply(".")
		return
	}
	if !s.authAllowed() {
		s.reply(errNeedTLS)
		return
	}
	if !strings.EqualFold(cmd.args[0], "PLAIN") {
		s.reply("-ERR unsupported authentication mechanism")
		return
	}
	var resp string
	if len(cmd.args) == 2 {
		resp = cmd.args[1]
		if resp == "=" { // an empty initial response (RFC 5034 §4)
			resp = ""
		}
	} else {
		s.reply("+ ")
		if !s.flush() {
			return
		}
		line, err := s.readLine()
		switch {
		case errors.Is(err, errLineTooLong):
			s.bad("-ERR line too long")
			return
		case errors.Is(err, netutil.ErrShuttingDown):
			s.reply("-ERR [SYS/TEMP] server shutting down")
			s.quit = true
			return
		case err != nil:
			// A timeout or a broken connection: no answer.
			s.quit = true
			return
		}
		resp = string(line)
		if resp == "*" {
			s.reply("-ERR authentication cancelled")
			return
		}
	}
	authz, authc, pass, err := sasl.DecodePlain(resp)
	if err != nil {
		s.reply("-ERR malformed PLAIN credentials")
		return
	}
	if authz != "" && authz != authc {
		s.reply("-ERR [AUTH] cannot log in as another user")
		return
	}
	s.login(authc, pass)
}

// login checks credentials, consulting the AuthLimiter, locks the maildrop
// and enters the TRANSACTION state with a snapshot of it.
func (s *session) login(user, pass string) {
	lim := s.srv.opts.AuthLimiter
	log := s.log.With("user", user)
	if lim != nil && !lim.Check(s.ctx, s.ip, user) {
		log.Warn("POP3 login refused: too many failed logins")
		s.reply("-ERR [SYS/TEMP] too many failed logins; try again later")
		return
	}
	md, err := s.srv.opts.Backend.Authenticate(core.WithRemoteAddr(s.ctx, s.ip), user, pass)
	if err != nil {
		if !errors.Is(err, ErrAuthFailed) {
			log.Error("POP3 login failed", "err", err)
			s.reply("-ERR [SYS/TEMP] cannot log in now; try again later")
			return
		}
		log.Info("POP3 login failed: wrong credentials")
		if lim != nil {
			lim.Failed(s.ctx, s.ip, user)
			s.sleep(lim.Delay(s.ctx, s.ip, user))
		}
		s.reply("-ERR [AUTH] invalid user name or password")
		return
	}
	if lim != nil {
		lim.Succeeded(s.ctx, s.ip, user)
	}
	if !s.srv.lockMaildrop(md.ID()) {
		log.Info("POP3 login refused: maildrop in use")
		s.reply("-ERR [IN-USE] maildrop already locked")
		return
	}
	msgs, err := md.List(s.ctx)
	if err != nil {
		s.srv.unlockMaildrop(md.ID())
		log.Error("POP3 cannot list maildrop", "err", err)
		s.reply("-ERR [SYS/TEMP] cannot open the maildrop; try again later")
		return
	}
	s.state = stateTransaction
	s.user = user
	s.maildrop = md
	s.msgs = msgs
	s.deleted = make([]bool, len(msgs))
	s.log = log
	n, size := s.count()
	log.Info("POP3 login", "messages", n, "octets", size, "tls", s.tls)
	s.replyf("+OK maildrop has %d messages (%d octets)", n, size)
}

// sleep waits for d, or less if the server stops or the session ends.
func (s *session) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.srv.sessions.Stopping():
	case <-s.ctx.Done():
	}
}
