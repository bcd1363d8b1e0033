package imapserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/core/imapurl"
	"github.com/yubinmail/yubin/mailstore"
)

// URLAccount is what an Account offers for IMAP URLs: CATENATE (RFC 4469)
// and URLAUTH (RFC 4467). Errors wrap imapurl.ErrBadURL for a URL that
// does not resolve for this user and core.ErrTooLarge for content over
// max.
type URLAccount interface {
	// FetchURL returns the bytes u names, as this user may see them: a
	// URL without URLAUTH must name one of the user's own mailboxes, one
	// with URLAUTH must verify for this user. max bounds the result (0:
	// none).
	FetchURL(ctx context.Context, u *imapurl.URL, max int64) ([]byte, error)
	// GenURLAuth signs a rump URL of the user's own (GENURLAUTH).
	GenURLAuth(ctx context.Context, u *imapurl.URL) (string, error)
	// ResetURLAuthKeys replaces the user's URLAUTH key of a mailbox (""
	// for all), so that URLs signed with the old one stop verifying.
	ResetURLAuthKeys(ctx context.Context, mailbox string) error
}

// parseURL parses a URL a client gave and checks that it names this
// server: by its host name, or by the address the client connected to.
func (s *session) parseURL(raw string) (*imapurl.URL, error) {
	u, err := imapurl.Parse(raw)
	if err != nil {
		return nil, err
	}
	local := ""
	if a, ok := s.raw.LocalAddr().(*net.TCPAddr); ok {
		local = a.IP.String()
		if a.IP.To4() == nil {
			local = "[" + local + "]"
		}
	}
	if !u.OnServer(s.srv.opts.Hostname, local) {
		return nil, imapurl.ErrBadURL
	}
	return u, nil
}

// fetchURL returns what a URL names for this session (CATENATE,
// URLFETCH); a URL that does not resolve gives NO [BADURL url], content
// over max NO [TOOBIG].
func (s *session) fetchURL(raw string, max int64) ([]byte, error) {
	u, err := s.parseURL(raw)
	if err == nil {
		var data []byte
		if data, err = s.acct.FetchURL(s.ctx, u, max); err == nil {
			return data, nil
		}
	}
	switch {
	case errors.Is(err, imapurl.ErrSyntax), errors.Is(err, imapurl.ErrBadURL):
		s.log.Debug("IMAP URL refused", "url", raw, "err", err)
		return nil, noErr("BADURL "+respURL(raw), "The URL does not name a message part you may read")
	case errors.Is(err, core.ErrTooLarge):
		return nil, noErr("TOOBIG", "The URL's content is too large")
	case errors.Is(err, mailstore.ErrBodyLocked):
		return nil, noErr("UNAVAILABLE", "The URL's message is encrypted with a user's key that this session has not unlocked")
	}
	return nil, err
}

// respURL makes a URL fit a response code (url-resp-text, RFC 4469 §5:
// no "]", no control characters).
func respURL(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw) && i < 1024; i++ {
		switch c := raw[i]; {
		case c == ']':
			b.WriteString("%5D")
		case c <= ' ' || c >= 0x7f:
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// cmdGenURLAuth runs GENURLAUTH (RFC 4467 §7.1): url-rump SP mechanism
// pairs; all are signed or none.
func (s *session) cmdGenURLAuth(c *command) error {
	var out []string
	for s.r.accept(' ') {
		if len(out) >= 100 {
			return badf("Too many URLs in one GENURLAUTH")
		}
		raw, err := s.r.astring("a URL")
		if err != nil {
			return err
		}
		if err := s.r.sp(); err != nil {
			return err
		}
		mech, err := s.r.atom("a URLAUTH mechanism")
		if err != nil {
			return err
		}
		if !strings.EqualFold(mech, imapurl.Mechanism) {
			return noErr("", "Unknown URLAUTH mechanism "+strings.ToValidUTF8(mech, "?")+" (INTERNAL is offered)")
		}
		u, err := s.parseURL(raw)
		if err == nil {
			err = imapurl.CheckRump(u)
		}
		var full string
		if err == nil {
			full, err = s.acct.GenURLAuth(s.ctx, u)
		}
		if err != nil {
			if errors.Is(err, imapurl.ErrSyntax) || errors.Is(err, imapurl.ErrBadURL) || errors.Is(err, imapurl.ErrNotRumpForm) {
				return noErr("BADURL "+respURL(raw), "Cannot sign that URL: it must be absolute, name your own mailbox and end in ;URLAUTH=<access>")
			}
			return err
		}
		out = append(out, full)
	}
	if len(out) == 0 {
		return badf("GENURLAUTH needs a URL and a mechanism")
	}
	if err := s.r.end(); err != nil {
		return err
	}
	s.w.s("* GENURLAUTH")
	for _, u := range out {
		s.w.sp().str(u)
	}
	s.w.crlf()
	return nil
}

// cmdResetKey runs RESETKEY (RFC 4467 §7.2): [mailbox *(SP mechanism)].
func (s *session) cmdResetKey(c *command) error {
	name := ""
	if s.r.accept(' ') {
		var err error
		if name, err = s.mailboxName(); err != nil {
			return err
		}
		for s.r.accept(' ') {
			mech, err := s.r.atom("a URLAUTH mechanism")
			if err != nil {
				return err
			}
			if !strings.EqualFold(mech, imapurl.Mechanism) {
				return noErr("", "Unknown URLAUTH mechanism "+strings.ToValidUTF8(mech, "?"))
			}
		}
	}
	if err := s.r.end(); err != nil {
		return err
	}
	if err := s.acct.ResetURLAuthKeys(s.ctx, name); err != nil {
		return s.storeErr("reset the key of", err, "NONEXISTENT")
	}
	return nil
}

// cmdURLFetch runs URLFETCH (RFC 4467 §7.3): one untagged URLFETCH per
// URL, with NIL for a URL that does not resolve.
func (s *session) cmdURLFetch(c *command) error {
	var urls []string
	for s.r.accept(' ') {
		if len(urls) >= 100 {
			return badf("Too many URLs in one URLFETCH")
		}
		raw, err := s.r.astring("a URL")
		if err != nil {
			return err
		}
		urls = append(urls, raw)
	}
	if len(urls) == 0 {
		return badf("URLFETCH needs a URL")
	}
	if err := s.r.end(); err != nil {
		return err
	}
	for _, raw := range urls {
		var data []byte
		u, err := s.parseURL(raw)
		if err == nil && !u.HasURLAuth() {
			err = imapurl.ErrNoURLAuth // URLFETCH serves URLAUTH URLs only
		}
		if err == nil {
			data, err = s.acct.FetchURL(s.ctx, u, maxMessageRead)
		}
		s.w.s("* URLFETCH ").str(raw).sp()
		switch {
		case err != nil || bytesHasNUL(data):
			if err != nil && !errors.Is(err, imapurl.ErrSyntax) && !errors.Is(err, imapurl.ErrBadURL) && !errors.Is(err, imapurl.ErrNoURLAuth) {
				s.log.Warn("IMAP URLFETCH failed", "err", err)
			}
			s.w.s("NIL")
		default:
			s.w.literal(data, false)
		}
		s.w.crlf()
	}
	return nil
}
