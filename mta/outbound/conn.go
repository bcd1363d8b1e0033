package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// session is an SMTP connection ready for MAIL FROM.
type session struct {
	c        *smtp.Client
	raw      net.Conn    // the TCP connection under c
	stop     func() bool // drops the watch of the context
	tls      bool
	verified bool // the peer's certificate verified
	messages int  // messages delivered on it (pool.go)
	reused   bool // taken from the pool for this delivery
}

func (s *session) close() {
	s.stop()
	s.c.Close()
}

// errNoTLS says that TLS was required but not offered.
var errNoTLS = errors.New("STARTTLS required but not offered")

// connect opens an SMTP session with t: greeting, EHLO, STARTTLS (if
// offered, or required for the smarthost), EHLO again and AUTH. The
// connection is closed when ctx ends. For opportunistic TLS a failed
// handshake is retried once without TLS.
func (w *Worker) connect(ctx context.Context, t target) (*session, error) {
	s, err := w.dial(ctx, t, true)
	var he handshakeError
	if err != nil && t.tls == "" && !t.stsEnforce && errors.As(err, &he) && ctx.Err() == nil {
		w.log.Info("TLS handshake failed; trying again without TLS", "host", t.name, "addr", t.addr, "err", he.err)
		return w.dial(ctx, t, false)
	}
	if err == nil && t.stsTesting && !(s.tls && s.verified) {
		w.log.Warn("MTA-STS testing: no TLS with a valid certificate (delivering anyway; enforce would not)", "host", t.name, "tls", s.tls)
	}
	return s, err
}

// handshakeError is a failed TLS handshake.
type handshakeError struct{ err error }

func (e handshakeError) Error() string { return "TLS handshake: " + e.err.Error() }

func (w *Worker) dial(ctx context.Context, t target, useTLS bool) (*session, error) {
	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	s := &session{raw: conn, stop: context.AfterFunc(ctx, func() { conn.Close() })}
	ok := false
	defer func() {
		if !ok {
			s.stop()
			conn.Close()
		}
	}()

	cfg := w.tlsConfig(t, &s.verified)
	var c net.Conn = conn
	switch {
	case t.tls == TLSImplicit:
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, handshakeError{err}
		}
		c, s.tls = tc, true
	case t.tls == TLSNone || !useTLS:
	default:
		upgraded, err := w.startTLS(conn, t)
		if err != nil {
			return nil, err
		}
		if upgraded {
			tc := tls.Client(conn, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				return nil, handshakeError{err}
			}
			// The greeting was read already; go-smtp's client wants one.
			c, s.tls = &greetedConn{Conn: tc, greeting: strings.NewReader("220 " + t.name + "\r\n")}, true
		} else {
			c = &greetedConn{Conn: conn, greeting: strings.NewReader("220 " + t.name + "\r\n")}
		}
	}
	s.c = smtp.NewClient(c)
	s.c.CommandTimeout = commandTimeout
	s.c.SubmissionTimeout = submissionTimeout
	if err := s.c.Hello(w.opts.Hostname); err != nil {
		return nil, err
	}
	if t.smart && w.opts.SmarthostUser != "" {
		if !s.tls && t.tls != TLSNone {
			return nil, errors.New("refusing to authenticate without TLS")
		}
		if ok, _ := s.c.Extension("AUTH"); !ok {
			return nil, errors.New("smarthost does not offer AUTH")
		}
		if err := s.c.Auth(sasl.NewPlainClient("", w.opts.SmarthostUser, w.opts.SmarthostPassword)); err != nil {
			return nil, fmt.Errorf("smarthost authentication: %w", err)
		}
	}
	ok = true
	return s, nil
}

// startTLS reads the greeting, says EHLO and, if the peer offers STARTTLS,
// asks for it. It reports whether the connection is to be upgraded now.
// Without STARTTLS it fails if TLS is required (the smarthost).
func (w *Worker) startTLS(conn net.Conn, t target) (bool, error) {
	required := t.tls == TLSStartTLS || t.stsEnforce
	_ = conn.SetDeadline(time.Now().Add(commandTimeout))
	defer conn.SetDeadline(time.Time{})
	tp := textproto.NewConn(nopCloser{conn})
	if _, _, err := readReply(tp, 220); err != nil {
		return false, err
	}
	if err := tp.PrintfLine("EHLO %s", w.opts.Hostname); err != nil {
		return false, err
	}
	_, msg, err := readReply(tp, 250)
	var se *smtp.SMTPError
	if errors.As(err, &se) && !required {
		return false, nil // no EHLO: go-smtp falls back to HELO
	}
	if err != nil {
		return false, err
	}
	offered := false
	for _, line := range strings.Split(msg, "\n")[1:] {
		if strings.EqualFold(strings.TrimSpace(line), "STARTTLS") {
			offered = true
		}
	}
	if !offered {
		if required {
			return false, errNoTLS
		}
		return false, nil
	}
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		return false, err
	}
	if _, _, err := readReply(tp, 220); err != nil {
		if errors.As(err, &se) && !required {
			w.log.Info("STARTTLS refused; going on without TLS", "host", t.name, "err", err)
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// readReply reads a reply, turning an unexpected one into *smtp.SMTPError.
func readReply(tp *textproto.Conn, want int) (int, string, error) {
	code, msg, err := tp.ReadResponse(want)
	var pe *textproto.Error
	if errors.As(err, &pe) {
		return code, msg, &smtp.SMTPError{Code: pe.Code, Message: pe.Msg}
	}
	return code, msg, err
}

// tlsConfig returns the TLS configuration for t. The smarthost's
// certificate is verified; an MX host's is checked but accepted anyway
// (opportunistic TLS, RFC 3207 §4.1 and RFC 7435), *verified saying how it
// went.
func (w *Worker) tlsConfig(t target, verified *bool) *tls.Config {
	if t.smart {
		return &tls.Config{ServerName: t.name, RootCAs: w.opts.SmarthostRootCAs, MinVersion: tls.VersionTLS12}
	}
	if t.stsEnforce { // MTA-STS: a certificate valid for the MX name (RFC 8461 §4.2)
		*verified = true // or the handshake fails
		return &tls.Config{ServerName: t.name, RootCAs: w.opts.MXRootCAs, MinVersion: tls.VersionTLS12}
	}
	return &tls.Config{
		ServerName:         t.name,
		InsecureSkipVerify: true, //nolint:gosec // opportunistic: any certificate beats plain text
		MinVersion:         tls.VersionTLS10,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: t.name, Intermediates: inter})
			*verified = err == nil
			return nil
		},
	}
}

// greetedConn replays a greeting before what the peer sends next.
type greetedConn struct {
	net.Conn
	greeting io.Reader
}

func (c *greetedConn) Read(p []byte) (int, error) {
	if n, _ := c.greeting.Read(p); n > 0 {
		return n, nil
	}
	return c.Conn.Read(p)
}

type nopCloser struct{ io.ReadWriter }

func (nopCloser) Close() error { return nil }
