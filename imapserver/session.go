package imapserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// The connection states (RFC 9051 §3).
type state int

const (
	stateNotAuth state = iota
	stateAuth
	stateSelected
	stateLogout
)

// writeTimeout bounds the writing of one response batch to a client.
const writeTimeout = 5 * time.Minute

// session is one IMAP connection. Its goroutine runs the commands one at
// a time; only bye, from Shutdown, writes from elsewhere (under wmu).
type session struct {
	srv    *Server
	conn   net.Conn // the connection, TLS after STARTTLS
	raw    net.Conn // the accepted connection, for Server.Close
	br     *bufio.Reader
	r      *reader
	w      *writer
	wmu    sync.Mutex
	log    *slog.Logger
	ctx    context.Context // tagged with origin; ends with the connection
	cancel context.CancelFunc
	origin string
	remote net.Addr

	state state
	isTLS bool
	acct  Account
	utf8  bool // UTF8=ACCEPT enabled
	rev2  bool // IMAP4rev2 enabled
	// condstore and qresync are on once enabled (RFC 7162 §3.1, §3.2.3).
	condstore, qresync bool
	sel                *selection
	ntf                *notifyState      // NOTIFY (RFC 5465), nil when off
	deferred           []mailstore.Event // expunges not yet allowed to be sent
}

// selection is the selected mailbox of a session.
type selection struct {
	mailbox  *mailstore.Mailbox
	view     *view
	readOnly bool
	saved    []uint32 // the SEARCHRES result, as UIDs
	// keywords are the keywords announced in FLAGS so far.
	keywords map[string]bool
	// recent holds the UIDs with \Recent for this session (rev1 only).
	recent map[uint32]bool
	// contexts are the live SEARCH and SORT results (RFC 5267 §4).
	contexts []*searchContext
}

func newSession(srv *Server, c net.Conn) *session {
	origin := "imap-" + strconv.FormatUint(srv.nextSession.Add(1), 10)
	ctx, cancel := context.WithCancel(mailstore.WithOrigin(context.Background(), origin))
	s := &session{
		srv:    srv,
		conn:   c,
		raw:    c,
		log:    srv.log.With("remote", c.RemoteAddr().String(), "session", origin),
		ctx:    ctx,
		cancel: cancel,
		origin: origin,
		remote: c.RemoteAddr(),
	}
	_, s.isTLS = c.(*tls.Conn)
	s.br = bufio.NewReaderSize(c, 4096)
	s.w = newWriter(c, &srv.bulkBuffers)
	s.r = newReader(s.br, s.continuation)
	return s
}

// continuation asks the client for a synchronizing literal.
func (s *session) continuation() error {
	s.w.s("+ Ready for literal data\r\n")
	return s.flush()
}

// flush sends the buffered responses.
func (s *session) flush() error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return s.w.flush()
}

// bye ends the session from outside (Shutdown).
func (s *session) bye(text string) {
	s.wmu.Lock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	s.w.s("* BYE ").s(text).crlf()
	_ = s.w.flush()
	s.wmu.Unlock()
	s.conn.Close()
}

// serve runs the session until the client leaves or the connection
// breaks.
func (s *session) serve() {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("IMAP session panicked", "panic", p)
		}
		s.endNotify()
		s.unselect()
		if f, ok := s.acct.(interface{ Forget() }); ok {
			f.Forget() // what the session's key of user-key encryption kept
		}
		s.cancel()
		s.conn.Close()
		s.log.Debug("IMAP session ended")
	}()
	if tc, ok := s.conn.(*tls.Conn); ok {
		_ = tc.SetDeadline(time.Now().Add(time.Minute))
		if err := tc.HandshakeContext(s.ctx); err != nil {
			s.log.Debug("IMAP TLS handshake failed", "err", err)
			return
		}
		_ = tc.SetDeadline(time.Time{})
	}
	s.wmu.Lock()
	s.w.s("* OK [CAPABILITY ").s(s.capabilities()).s("] ").s(s.srv.opts.Hostname).s(" Yubin IMAP ready\r\n")
	err := s.flush()
	s.wmu.Unlock()
	if err != nil {
		return
	}
	for s.state != stateLogout {
		if err := s.command(); err != nil {
			if !errors.Is(err, errFatal) {
				s.log.Debug("IMAP session aborted", "err", err)
			}
			return
		}
	}
}

// command reads and runs one command. It returns an error only when the
// connection cannot go on. The session holds wmu while it runs a command
// (not while it waits for one), so that bye never cuts a response.
func (s *session) command() error {
	_ = s.conn.SetReadDeadline(time.Now().Add(s.srv.opts.IdleTimeout))
	err := s.r.readLine()
	s.r.literals = 0
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err != nil {
		if errors.Is(err, errLineTooLong) {
			if err := s.r.skip(); err != nil {
				return err
			}
			return s.reply("*", err)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			s.w.s("* BYE Autologout; idle for too long\r\n")
			_ = s.flush()
		}
		return err
	}
	if s.r.atEnd() {
		return s.reply("*", badf("Empty command line"))
	}
	tag, err := s.r.tag()
	if err == nil {
		err = s.r.sp()
	}
	if err != nil {
		if err := s.r.skip(); err != nil {
			return err
		}
		return s.reply("*", badf("Missing or invalid command tag"))
	}
	name, err := s.r.atom("a command name")
	if err != nil {
		if err := s.r.skip(); err != nil {
			return err
		}
		return s.reply(tag, err)
	}
	name = strings.ToUpper(name)
	c := &command{tag: tag, name: name}
	if name == "UID" {
		c.uid = true
		if err := s.r.sp(); err != nil {
			return s.fail(c, err)
		}
		sub, err := s.r.atom("a command name")
		if err != nil {
			return s.fail(c, err)
		}
		c.name = strings.ToUpper(sub)
	}
	h, ok := handlers[c.name]
	if !ok || c.uid && !h.uid {
		return s.fail(c, badf("Unknown command %s", strings.ToValidUTF8(c.name, "?")))
	}
	if h.states&(1<<s.state) == 0 {
		return s.fail(c, badf("%s not allowed now: %s", c.name, stateHint(s.state)))
	}
	if err := h.fn(s, c); err != nil {
		c.pollAfter, c.allowExpunge = true, h.expunge || c.uid
		return s.fail(c, err)
	}
	return s.done(c, h.expunge || c.uid)
}

func stateHint(st state) string {
	switch st {
	case stateNotAuth:
		return "log in first"
	case stateAuth:
		return "select a mailbox first"
	}
	return "wrong state"
}

// command is one command being run.
type command struct {
	tag, name string
	uid       bool
	// okCode and okText make the tagged OK; okText defaults to
	// "<name> completed".
	okCode, okText string
	// answered is set by a command that sent its tagged response itself.
	answered bool
	// pollAfter says whether updates go out before a tagged NO; and
	// whether they may include expunges.
	pollAfter, allowExpunge bool
}

// fail answers a command that failed: it drops the rest of it and sends
// the tagged BAD or NO. Internal errors are logged, not shown.
func (s *session) fail(c *command, err error) error {
	if errors.Is(err, errFatal) {
		return err
	}
	if err := s.r.skip(); err != nil {
		return err
	}
	var se *statusError
	if !errors.As(err, &se) {
		s.log.Error("IMAP command failed", "command", c.name, "err", err)
		se = noErr("SERVERBUG", "Internal error; try again later")
	}
	if !se.bad && c.pollAfter {
		s.poll(c.allowExpunge)
	}
	return s.reply(c.tag, se)
}

// done sends the tagged OK after the updates the client may get now.
func (s *session) done(c *command, allowExpunge bool) error {
	if s.state == stateLogout || c.answered {
		return nil
	}
	s.poll(allowExpunge)
	s.reportQueued()
	s.w.s(c.tag).s(" OK ")
	if c.okCode != "" {
		s.w.c('[').s(c.okCode).s("] ")
	}
	if c.okText != "" {
		s.w.s(c.okText)
	} else {
		s.w.s(c.name).s(" completed")
	}
	s.w.crlf()
	return s.flush()
}

// reply sends a tagged (or "*") status response for err.
func (s *session) reply(tag string, err error) error {
	var se *statusError
	if !errors.As(err, &se) {
		se = badf("%v", err)
	}
	s.w.s(tag)
	if se.bad {
		s.w.s(" BAD ")
	} else {
		s.w.s(" NO ")
	}
	if se.code != "" {
		s.w.c('[').s(se.code).s("] ")
	}
	s.w.s(se.text).crlf()
	return s.flush()
}

// untagged writes an untagged response line.
func (s *session) untagged(line string) {
	s.w.s("* ").s(line).crlf()
}

// storeErr turns a backend error into the answer for it. missing is the
// code for a mailbox that does not exist (NONEXISTENT, or TRYCREATE where
// the client could create it).
func (s *session) storeErr(op string, err error, missing string) error {
	var se *statusError
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, core.ErrNotFound):
		return noErr(missing, "No such mailbox")
	case errors.Is(err, core.ErrExists):
		return noErr("ALREADYEXISTS", "Mailbox already exists")
	case errors.Is(err, core.ErrOverQuota):
		return noErr("OVERQUOTA", "Quota exceeded")
	case errors.Is(err, core.ErrTooLarge):
		return noErr("TOOBIG", "Message too large")
	case errors.Is(err, mailstore.ErrTooManyMailboxes):
		// RFC 5530 LIMIT, with the store's text from "too many mailboxes"
		// on (the cap and what to do), never the wrapping around it.
		msg := err.Error()
		if i := strings.Index(msg, mailstore.ErrTooManyMailboxes.Error()); i >= 0 {
			msg = msg[i:]
		}
		return noErr("LIMIT", msg)
	case errors.Is(err, core.ErrInvalid), errors.Is(err, core.ErrConflict):
		return noErr("CANNOT", "Cannot "+op+" that")
	}
	return fmt.Errorf("%s: %w", op, err)
}

// capabilities lists what the server offers in the current state.
func (s *session) capabilities() string {
	var b strings.Builder
	b.WriteString("IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MULTIAPPEND MOVE CHILDREN SPECIAL-USE CREATE-SPECIAL-USE ESEARCH SEARCHRES UTF8=ACCEPT WITHIN STATUS=SIZE LIST-EXTENDED LIST-STATUS BINARY CONDSTORE QRESYNC QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE")
	if s.srv.opts.Compress && s.w.z == nil {
		b.WriteString(" COMPRESS=DEFLATE")
	}
	b.WriteString(sortThreadCapabilities)
	b.WriteString(contextCapabilities)
	b.WriteString(" OBJECTID SAVEDATE METADATA NOTIFY")
	b.WriteString(" CATENATE URLAUTH")
	b.WriteString(aclCapabilities)
	b.WriteString(" APPENDLIMIT=")
	b.WriteString(strconv.FormatUint(uint64(s.srv.opts.AppendLimit), 10))
	if s.state == stateNotAuth {
		if s.srv.opts.TLSConfig != nil && !s.isTLS {
			b.WriteString(" STARTTLS")
		}
		if s.authAllowed() {
			b.WriteString(" AUTH=PLAIN")
		} else {
			b.WriteString(" LOGINDISABLED")
		}
	}
	return b.String()
}

// authAllowed reports whether the client may log in now.
func (s *session) authAllowed() bool {
	return s.isTLS || s.srv.opts.InsecureAuth(s.remote)
}

// enableCondstore turns CONDSTORE on by a CONDSTORE-enabling command
// (RFC 7162 §3.1); in the selected state the client learns the mailbox's
// HIGHESTMODSEQ.
func (s *session) enableCondstore() {
	if s.condstore {
		return
	}
	s.condstore = true
	if s.sel != nil {
		s.w.s("* OK [HIGHESTMODSEQ ").n64(s.sel.view.modSeq).s("] Highest\r\n")
	}
}

// withRecent returns the flags of a message as this session shows them:
// with \Recent if the message is recent for it (RFC 3501 §2.3.2).
func (s *session) withRecent(uid uint32, flags []string) []string {
	if s.sel == nil || !s.sel.recent[uid] {
		return flags
	}
	return append(flags[:len(flags):len(flags)], `\Recent`)
}

// claimRecent marks the messages of uids that are recent for this
// session; rev2 sessions know no \Recent.
func (s *session) claimRecent(uids []uint32) {
	if s.rev2 {
		return
	}
	for _, uid := range s.srv.hub.claimRecent(s.sel.mailbox.ID, uids, !s.sel.readOnly) {
		s.sel.recent[uid] = true
	}
}
