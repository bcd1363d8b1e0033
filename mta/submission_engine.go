package mta

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/core/imapurl"
	"github.com/yubinmail/yubin/mailstore/urlresolve"
	"github.com/yubinmail/yubin/smtpserver"
)

// The submission listeners run on Yubin's own SMTP engine (smtpserver);
// the intake stays on go-smtp's server. Both drive the same session: this
// file adapts it to the engine.

// engineBackend makes the sessions of a submission server's connections.
type engineBackend struct{ srv *Server }

// NewSession implements smtpserver.Backend: it is called at the first
// HELO/EHLO of a connection, and again after STARTTLS.
func (b engineBackend) NewSession(c *smtpserver.Conn) (smtpserver.Session, error) {
	s := b.srv
	if s.isClosing() {
		return nil, smtpErr(421, smtp.EnhancedCode{4, 3, 2}, s.opts.Hostname+" shutting down")
	}
	st := &connState{srv: s}
	// Closing the TCP connection (a session's last word, closeWith) ends
	// the engine's session; its replies and the session's own 421 go out
	// in order through the engine's writer.
	newClientConn(c.NetConn(), st)
	st.out = c.Writer()
	sess := &session{srv: s, ctx: s.ctx, st: st, tls: c.TLS()}
	sess.begin(c.RemoteAddr(), c.Hostname())
	return &engineSession{session: sess, local: c.LocalAddr()}, nil
}

// engineSession is a submission session as the engine sees it: the shared
// session, with AUTH and BURL.
type engineSession struct {
	*session
	local net.Addr // the address the client connected to (for BURL URLs)
}

// Authenticate implements smtpserver.AuthSession: the login of AUTH PLAIN
// and AUTH LOGIN, through the AuthLimiter.
func (e *engineSession) Authenticate(identity, username, password string) error {
	s := e.session
	if s.srv.sub == nil {
		return smtp.ErrAuthUnsupported
	}
	if !s.authAllowed() {
		s.log.Info("AUTH refused without TLS")
		return errAuthNeedsTLS
	}
	if identity != "" && identity != username {
		// No logging in as someone else.
		return s.loginFailed(username, "authorization identity differs")
	}
	return s.login(username, password)
}

// Reset implements smtp.Session. The engine hands a BDAT message over and
// waits for Data's result before it ends a transaction, so a transfer cut
// short (RSET between chunks) is simply over: the go-smtp work-around of
// Reset (closing the connection) does not apply.
func (e *engineSession) Reset() {
	e.mu.Lock()
	e.bdatOpen = false
	e.mu.Unlock()
	e.session.Reset()
}

// Data implements smtp.Session. The message of DATA ends at CRLF.CRLF
// only; when a bare CR comes right before that CRLF ("hello<CR><CRLF>.<CRLF>"),
// it is dropped, as on go-smtp (see dataGuard), rather than made a line end
// of its own.
func (e *engineSession) Data(r io.Reader) error {
	if _, chunks := r.(*io.PipeReader); !chunks {
		r = &endCRTrimmer{r: r, buf: make([]byte, 32<<10)}
	}
	return e.session.Data(r)
}

// FetchURL implements smtpserver.URLSession: BURL (RFC 4468) takes the
// content of an IMAP URL of this server that carries URLAUTH for the
// logged-in user ("submit+" access, RFC 4467), resolved by the store as
// IMAP's URLFETCH and CATENATE resolve theirs.
func (e *engineSession) FetchURL(ctx context.Context, raw string) ([]byte, error) {
	s := e.session
	if s.user == nil || s.srv.sub == nil {
		return nil, smtpErr(530, smtp.EnhancedCode{5, 7, 0}, "Authentication required")
	}
	u, err := imapurl.Parse(raw)
	if err != nil || !u.Absolute {
		s.log.Info("BURL refused: not an absolute IMAP URL", "err", err)
		return nil, smtpErr(554, smtp.EnhancedCode{5, 6, 6}, "IMAP URL resolution failed: BURL needs an absolute imap:// URL")
	}
	local := ""
	if a, ok := e.local.(*net.TCPAddr); ok {
		local = a.IP.String()
		if a.IP.To4() == nil {
			local = "[" + local + "]"
		}
	}
	if !u.OnServer(s.srv.opts.Hostname, local) {
		s.log.Info("BURL refused: URL of another server", "host", u.Host)
		return nil, smtpErr(554, smtp.EnhancedCode{5, 7, 14}, "URL resolution requires trust relationship: only URLs of this server are fetched")
	}
	if !u.HasURLAuth() {
		return nil, smtpErr(554, smtp.EnhancedCode{5, 7, 0}, "BURL needs a URLAUTH URL: sign it with GENURLAUTH for submit+"+s.user.Address)
	}
	data, err := s.srv.sub.urls.Fetch(ctx, u, imapurl.Requester{User: s.user.Address, Submit: true}, s.srv.opts.MaxMessageBytes)
	switch {
	case err == nil:
		s.log.Info("BURL content fetched", "bytes", len(data))
		return data, nil
	case errors.Is(err, core.ErrTooLarge):
		return nil, smtpErr(552, smtp.EnhancedCode{5, 3, 4}, "The URL's content is larger than the message size limit")
	case errors.Is(err, imapurl.ErrAccess), errors.Is(err, imapurl.ErrExpired), errors.Is(err, imapurl.ErrBadToken),
		errors.Is(err, imapurl.ErrNotSigned), errors.Is(err, imapurl.ErrMechanism):
		s.log.Info("BURL refused: URLAUTH does not authorize this user", "err", err)
		return nil, smtpErr(554, smtp.EnhancedCode{5, 7, 0}, "The URL is not authorized for you (its URLAUTH, expiry or access identifier)")
	case errors.Is(err, imapurl.ErrBadURL), errors.Is(err, imapurl.ErrSyntax):
		s.log.Info("BURL refused: URL does not resolve", "err", err)
		return nil, smtpErr(554, smtp.EnhancedCode{5, 6, 6}, "IMAP URL resolution failed")
	default:
		s.log.Error("BURL fetch failed", "err", err)
		return nil, smtpErr(451, smtp.EnhancedCode{4, 4, 1}, "IMAP server unavailable, please try again later")
	}
}

// exactEnd reports whether r is a message whose end the protocol layer
// found exactly (the submission engine's DATA): the data guard then need
// not look for an end go-smtp's reader missed.
func exactEnd(r io.Reader) bool {
	_, ok := r.(*endCRTrimmer)
	return ok
}

// newURLResolver is the resolver of a submission server's BURL URLs.
var newURLResolver = urlresolve.New

// endCRTrimmer passes a message on, except that a bare CR right before the
// final CRLF is dropped.
type endCRTrimmer struct {
	r       io.Reader
	buf     []byte
	hold    []byte // bytes read; hold[pos:] not passed on yet, the last 3 kept back until the end
	pos     int
	err     error
	trimmed bool
}

// Read implements io.Reader.
func (t *endCRTrimmer) Read(p []byte) (int, error) {
	for {
		avail := len(t.hold) - t.pos
		if t.err == nil && avail > 3 || t.err != nil && avail > 0 {
			if t.err != nil && !t.trimmed {
				t.trimmed = true
				if bytes.HasSuffix(t.hold[t.pos:], []byte("\r\r\n")) {
					t.hold = append(t.hold[:len(t.hold)-3], '\r', '\n')
					continue
				}
			}
			end := len(t.hold)
			if t.err == nil {
				end -= 3
			}
			n := copy(p, t.hold[t.pos:end])
			t.pos += n
			return n, nil
		}
		if t.err != nil {
			return 0, t.err
		}
		t.hold = append(t.hold[:0], t.hold[t.pos:]...)
		t.pos = 0
		n, err := t.r.Read(t.buf)
		t.hold = append(t.hold, t.buf[:n]...)
		t.err = err
	}
}
