package imapserver

import (
	"crypto/tls"
	"errors"
	"strings"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/sasl"
)

// handler runs one command; it parses its own arguments from s.r.
type handler struct {
	fn      func(*session, *command) error
	states  uint8 // bit 1<<state for each state the command is allowed in
	uid     bool  // there is a UID variant
	expunge bool  // EXPUNGE responses may follow it (RFC 9051 §7.5.1)
}

const (
	inAny      = 1<<stateNotAuth | 1<<stateAuth | 1<<stateSelected
	inNotAuth  = 1 << stateNotAuth
	inAuth     = 1<<stateAuth | 1<<stateSelected
	inSelected = 1 << stateSelected
)

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"CAPABILITY":   {fn: (*session).cmdCapability, states: inAny, expunge: true},
		"NOOP":         {fn: (*session).cmdNoop, states: inAny, expunge: true},
		"LOGOUT":       {fn: (*session).cmdLogout, states: inAny},
		"ID":           {fn: (*session).cmdID, states: inAny, expunge: true},
		"STARTTLS":     {fn: (*session).cmdStartTLS, states: inNotAuth},
		"LOGIN":        {fn: (*session).cmdLogin, states: inNotAuth},
		"AUTHENTICATE": {fn: (*session).cmdAuthenticate, states: inNotAuth},
		"ENABLE":       {fn: (*session).cmdEnable, states: inAuth, expunge: true},
		"COMPRESS":     {fn: (*session).cmdCompress, states: inAuth},
		"SELECT":       {fn: (*session).cmdSelect, states: inAuth},
		"EXAMINE":      {fn: (*session).cmdSelect, states: inAuth},
		"CREATE":       {fn: (*session).cmdCreate, states: inAuth, expunge: true},
		"DELETE":       {fn: (*session).cmdDelete, states: inAuth, expunge: true},
		"RENAME":       {fn: (*session).cmdRename, states: inAuth, expunge: true},
		"SUBSCRIBE":    {fn: (*session).cmdSubscribe, states: inAuth, expunge: true},
		"UNSUBSCRIBE":  {fn: (*session).cmdSubscribe, states: inAuth, expunge: true},
		"LIST":         {fn: (*session).cmdList, states: inAuth, expunge: true},
		"LSUB":         {fn: (*session).cmdList, states: inAuth, expunge: true},
		"NAMESPACE":    {fn: (*session).cmdNamespace, states: inAuth, expunge: true},
		"STATUS":       {fn: (*session).cmdStatus, states: inAuth, expunge: true},
		"APPEND":       {fn: (*session).cmdAppend, states: inAuth, expunge: true},
		"IDLE":         {fn: (*session).cmdIdle, states: inAuth, expunge: true},
		"NOTIFY":       {fn: (*session).cmdNotify, states: inAuth, expunge: true},
		"CANCELUPDATE": {fn: (*session).cmdCancelUpdate, states: inSelected, expunge: true},
		"GETQUOTAROOT": {fn: (*session).cmdGetQuotaRoot, states: inAuth, expunge: true},
		"GETQUOTA":     {fn: (*session).cmdGetQuota, states: inAuth, expunge: true},
		"SETQUOTA":     {fn: (*session).cmdSetQuota, states: inAuth, expunge: true},
		"CLOSE":        {fn: (*session).cmdClose, states: inSelected},
		"UNSELECT":     {fn: (*session).cmdClose, states: inSelected},
		"CHECK":        {fn: (*session).cmdNoop, states: inSelected, expunge: true},
		"EXPUNGE":      {fn: (*session).cmdExpunge, states: inSelected, uid: true, expunge: true},
		"SEARCH":       {fn: (*session).cmdSearch, states: inSelected, uid: true},
		"FETCH":        {fn: (*session).cmdFetch, states: inSelected, uid: true},
		"SORT":         {fn: (*session).cmdSort, states: inSelected, uid: true},
		"THREAD":       {fn: (*session).cmdThread, states: inSelected, uid: true},
		"STORE":        {fn: (*session).cmdStore, states: inSelected, uid: true},
		"COPY":         {fn: (*session).cmdCopy, states: inSelected, uid: true, expunge: true},
		"MOVE":         {fn: (*session).cmdCopy, states: inSelected, uid: true, expunge: true},
		"GETMETADATA":  {fn: (*session).cmdGetMetadata, states: inAuth, expunge: true},
		"SETMETADATA":  {fn: (*session).cmdSetMetadata, states: inAuth, expunge: true},
		"GENURLAUTH":   {fn: (*session).cmdGenURLAuth, states: inAuth, expunge: true},
		"RESETKEY":     {fn: (*session).cmdResetKey, states: inAuth, expunge: true},
		"URLFETCH":     {fn: (*session).cmdURLFetch, states: inAuth, expunge: true},
		"SETACL":       {fn: (*session).cmdSetACL, states: inAuth, expunge: true},
		"DELETEACL":    {fn: (*session).cmdDeleteACL, states: inAuth, expunge: true},
		"GETACL":       {fn: (*session).cmdGetACL, states: inAuth, expunge: true},
		"LISTRIGHTS":   {fn: (*session).cmdListRights, states: inAuth, expunge: true},
		"MYRIGHTS":     {fn: (*session).cmdMyRights, states: inAuth, expunge: true},
	}
}

func (s *session) cmdCapability(c *command) error {
	if err := s.r.end(); err != nil {
		return err
	}
	s.untagged("CAPABILITY " + s.capabilities())
	return nil
}

// cmdNoop answers NOOP, and CHECK (RFC 3501 §6.4.1, dropped by RFC 9051
// but still sent by IMAP4rev1 clients such as mbsync): every change is
// durable when its command completes, so a checkpoint has nothing left to
// do beyond reporting pending updates, as NOOP does.
func (s *session) cmdNoop(c *command) error { return s.r.end() }

func (s *session) cmdLogout(c *command) error {
	if err := s.r.end(); err != nil {
		return err
	}
	s.untagged("BYE Logging out")
	s.w.s(c.tag).s(" OK LOGOUT completed\r\n")
	_ = s.flush()
	s.state = stateLogout
	return nil
}

// cmdID answers ID (RFC 2971), in any state.
func (s *session) cmdID(c *command) error {
	if err := s.r.sp(); err != nil {
		return err
	}
	if _, ok, err := s.r.nstringOrList(); err != nil {
		return err
	} else if ok {
		s.log.Debug("IMAP client ID received")
	}
	if err := s.r.end(); err != nil {
		return err
	}
	s.untagged(`ID ("name" "Yubin" "vendor" "Yubin")`)
	return nil
}

// nstringOrList reads NIL or a parenthesized list of string pairs (ID's
// argument), bounded to 30 pairs (RFC 2971 §3.3).
func (r *reader) nstringOrList() ([]string, bool, error) {
	if !r.accept('(') {
		a, err := r.atom("NIL or a list")
		if err != nil || !strings.EqualFold(a, "NIL") {
			return nil, false, badf("Expected NIL or a parenthesized list")
		}
		return nil, false, nil
	}
	var out []string
	for first := true; !r.accept(')'); first = false {
		if !first {
			if err := r.sp(); err != nil {
				return nil, false, err
			}
		}
		if len(out) >= 60 {
			return nil, false, badf("Too many ID fields")
		}
		v, _, err := r.nstring("an ID field")
		if err != nil {
			return nil, false, err
		}
		out = append(out, v)
	}
	if len(out)%2 != 0 {
		return nil, false, badf("ID fields come in pairs")
	}
	return out, true, nil
}

func (s *session) cmdStartTLS(c *command) error {
	if err := s.r.end(); err != nil {
		return err
	}
	if s.isTLS || s.srv.opts.TLSConfig == nil {
		return badf("STARTTLS not available")
	}
	// Anything the client sent after STARTTLS in the clear would be
	// injected into the TLS session: refuse it (CVE-2011-0411 style).
	if s.br.Buffered() > 0 {
		return badf("Data after STARTTLS before the TLS handshake")
	}
	s.w.s(c.tag).s(" OK Begin TLS negotiation now\r\n")
	if err := s.flush(); err != nil {
		return errors.Join(errFatal, err)
	}
	tc := tls.Server(s.conn, s.srv.opts.TLSConfig)
	_ = tc.SetDeadline(time.Now().Add(time.Minute))
	if err := tc.HandshakeContext(s.ctx); err != nil {
		s.log.Debug("IMAP STARTTLS handshake failed", "err", err)
		return errors.Join(errFatal, err)
	}
	_ = tc.SetDeadline(time.Time{})
	s.conn, s.isTLS = tc, true
	s.br.Reset(tc)
	s.w.reset(tc)
	c.answered = true // the OK went out before the handshake
	return nil
}

func (s *session) cmdLogin(c *command) error {
	if err := s.r.sp(); err != nil {
		return err
	}
	user, err := s.r.astring("a user name")
	if err != nil {
		return err
	}
	if err := s.r.sp(); err != nil {
		return err
	}
	pass, err := s.r.astring("a password")
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	return s.login(c, user, pass)
}

// cmdAuthenticate runs AUTHENTICATE PLAIN (RFC 4616), with an initial
// response (SASL-IR, RFC 4959) or after a "+" challenge.
func (s *session) cmdAuthenticate(c *command) error {
	if err := s.r.sp(); err != nil {
		return err
	}
	mech, err := s.r.atom("a SASL mechanism")
	if err != nil {
		return err
	}
	var resp string
	hasIR := false
	if s.r.accept(' ') {
		if resp, err = s.r.atomWith("an initial response", "="); err != nil {
			return err
		}
		hasIR = true
	}
	if err := s.r.end(); err != nil {
		return err
	}
	if !strings.EqualFold(mech, "PLAIN") {
		return noErr("", "Unsupported authentication mechanism")
	}
	if !s.authAllowed() {
		return noErr("PRIVACYREQUIRED", "Use TLS (STARTTLS) before logging in")
	}
	if !hasIR {
		s.w.s("+ \r\n")
		if err := s.flush(); err != nil {
			return errors.Join(errFatal, err)
		}
		if err := s.r.readLine(); err != nil {
			if errors.Is(err, errLineTooLong) {
				return badf("Authentication response too long")
			}
			return err
		}
		resp = string(s.r.line)
		s.r.pos = len(s.r.line)
	}
	if resp == "*" {
		return badf("Authentication cancelled")
	}
	if resp == "=" {
		resp = ""
	}
	authz, user, pass, err := sasl.DecodePlain(resp)
	if err != nil {
		return badf("Malformed PLAIN response: base64 of authzid NUL user NUL password expected")
	}
	if authz != "" && authz != user {
		return noErr("AUTHORIZATIONFAILED", "Cannot act as another user")
	}
	return s.login(c, user, pass)
}

// login checks credentials, with the throttle of repeated failures.
func (s *session) login(c *command, user, pass string) error {
	if !s.authAllowed() {
		return noErr("PRIVACYREQUIRED", "Use TLS (STARTTLS) before logging in")
	}
	lim := s.srv.opts.AuthLimiter
	ip := limits.AddrIP(s.remote).Unmap()
	log := s.log.With("user", user)
	if lim != nil && !lim.Check(s.ctx, ip, user) {
		log.Warn("IMAP login refused: too many failed logins")
		return noErr("UNAVAILABLE", "Too many failed logins; try again later")
	}
	acct, err := s.srv.opts.Backend.Authenticate(core.WithRemoteAddr(s.ctx, ip), user, pass)
	if err != nil {
		if !errors.Is(err, ErrAuthFailed) {
			log.Error("IMAP login failed", "err", err)
			return noErr("UNAVAILABLE", "Cannot log in now; try again later")
		}
		log.Info("IMAP login failed: wrong credentials")
		if lim != nil {
			lim.Penalize(s.ctx, ip, user)
		}
		return noErr("AUTHENTICATIONFAILED", "Invalid credentials")
	}
	if lim != nil {
		lim.Succeeded(s.ctx, ip, user)
	}
	s.acct, s.state = acct, stateAuth
	s.log = s.log.With("user", acct.Address())
	s.log.Info("IMAP login", "tls", s.isTLS)
	c.okCode = "CAPABILITY " + s.capabilities()
	c.okText = "Logged in"
	return nil
}

// cmdEnable turns on extensions (RFC 5161).
func (s *session) cmdEnable(c *command) error {
	var enabled []string
	for s.r.accept(' ') {
		a, err := s.r.atomWith("a capability", "")
		if err != nil {
			return err
		}
		switch strings.ToUpper(a) {
		case "UTF8=ACCEPT":
			if !s.utf8 {
				s.utf8, s.w.utf8Names, s.w.utf8Quoted = true, true, true
				enabled = append(enabled, "UTF8=ACCEPT")
			}
		case "CONDSTORE":
			if !s.condstore {
				s.enableCondstore()
				enabled = append(enabled, "CONDSTORE")
			}
		case "QRESYNC":
			if !s.qresync {
				s.qresync = true
				s.enableCondstore()
				enabled = append(enabled, "QRESYNC")
			}
		case "IMAP4REV2":
			if !s.rev2 {
				s.rev2, s.w.utf8Quoted = true, true
				enabled = append(enabled, "IMAP4rev2")
			}
		}
	}
	if err := s.r.end(); err != nil {
		return err
	}
	s.untagged("ENABLED" + prefixEach(enabled))
	return nil
}

// prefixEach joins words, each after a space.
func prefixEach(words []string) string {
	var b strings.Builder
	for _, w := range words {
		b.WriteByte(' ')
		b.WriteString(w)
	}
	return b.String()
}
