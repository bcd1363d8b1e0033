package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/mailstore"
)

// session is one IMAP connection's state. imapserver calls its methods
// from the connection's goroutine only, one command at a time, so its
// fields need no lock, except Idle, which runs in a goroutine of its own
// (see idleMu).
type session struct {
	srv    *Server
	conn   *imapserver.Conn
	log    *slog.Logger
	ctx    context.Context // tagged with origin; ends with the connection
	cancel context.CancelFunc
	origin string
	remote net.Addr

	user *mailstore.User

	// The selected mailbox.
	mailbox  *mailstore.Mailbox
	view     *view
	readOnly bool
	saved    []uint32 // the SEARCHRES result, as UIDs

	// idleMu and idling keep Idle off the session's state once the IDLE
	// command is over: imapserver ends IDLE without waiting for Idle to
	// return when the connection breaks or the client sends something
	// else than DONE, and then goes on with Close or the next command.
	// idleMu guards view against Idle; idling counts running Idles.
	idleMu sync.Mutex
	idling sync.WaitGroup
}

var (
	_ imapserver.SessionIMAP4rev2   = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
)

func newSession(srv *Server, c *imapserver.Conn) *session {
	origin := "imap-" + strconv.FormatUint(srv.nextSession.Add(1), 10)
	remote := c.NetConn().RemoteAddr()
	ctx, cancel := context.WithCancel(mailstore.WithOrigin(context.Background(), origin))
	s := &session{
		srv:    srv,
		conn:   c,
		log:    srv.log.With("remote", remote.String(), "session", origin),
		ctx:    ctx,
		cancel: cancel,
		origin: origin,
		remote: remote,
	}
	s.log.Debug("IMAP session started")
	return s
}

// Close implements imapserver.Session.
func (s *session) Close() error {
	s.unselect()
	s.cancel()
	s.srv.untrack(s.conn)
	s.log.Debug("IMAP session ended")
	return nil
}

// Login implements imapserver.Session; AUTHENTICATE PLAIN comes here too.
// Whether TLS is required was checked by imapserver before.
func (s *session) Login(username, password string) error {
	lim := s.srv.opts.AuthLimiter
	ip := limits.AddrIP(s.remote).Unmap()
	log := s.log.With("user", username)
	if lim != nil && !lim.Check(ip, username) {
		log.Warn("IMAP login refused: too many failed logins")
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Too many failed logins; try again later"}
	}
	u, err := s.srv.opts.Store.Authenticate(s.ctx, username, password)
	if err != nil {
		if !errors.Is(err, core.ErrAuthFailed) {
			log.Error("IMAP login failed", "err", err)
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Cannot log in now; try again later"}
		}
		log.Info("IMAP login failed: wrong credentials")
		if lim != nil {
			lim.Penalize(s.ctx, ip, username)
		}
		return imapserver.ErrAuthFailed
	}
	if lim != nil {
		lim.Succeeded(ip, username)
	}
	s.user = u
	s.log = s.log.With("user", u.Address)
	_, isTLS := s.conn.NetConn().(interface{ ConnectionState() tls.ConnectionState })
	s.log.Info("IMAP login", "tls", isTLS)
	return nil
}

// AppendLimit implements imapserver.SessionAppendLimit.
func (s *session) AppendLimit() uint32 { return s.srv.opts.AppendLimit }

// Namespace implements imapserver.SessionNamespace: one personal
// namespace, no shared ones.
func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: mailstore.Delimiter}}}, nil
}
