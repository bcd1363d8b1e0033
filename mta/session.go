package mta

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta/srs"
)

// lookupTimeout bounds one recipient lookup in the store.
const lookupTimeout = 30 * time.Second

// abortedBDATReply ends a connection on which a BDAT transfer was cut short.
const abortedBDATReply = "421 4.3.0 BDAT transfer aborted, please reconnect"

// session is one SMTP session: from HELO/EHLO until the connection closes
// or STARTTLS starts a new one. go-smtp calls its methods from the
// connection's goroutine, except Data during BDAT, which runs on a goroutine
// of its own and may overlap Reset and Logout: hence the mutex.
type session struct {
	srv  *Server
	st   *connState
	log  *slog.Logger
	ctx  context.Context
	info filters.ConnInfo
	tls  *tls.ConnectionState // nil without TLS
	// user is the account logged in with AUTH (submission only), nil
	// before.
	user *mailstore.User

	mu sync.Mutex
	tx *transaction // nil outside a transaction
	// bdatOpen is set while Data reads a BDAT message and has not reached
	// its end; poisoned once a transaction ended with a BDAT transfer cut
	// short (see Reset).
	bdatOpen bool
	poisoned bool
	// unknown counts the recipients refused in this session as unknown
	// or not served here (see refuseRecipient).
	unknown int
	// accepted is set when the message was accepted before the scripts
	// run (a quarantine release, release.go): a script's reject then
	// sends a rejection message, never an SMTP reply.
	accepted bool
}

// transaction is the envelope of the message under way.
type transaction struct {
	start time.Time
	from  string
	utf8  bool
	size  int64       // the SIZE= of MAIL FROM, 0 if none
	rcpts []string    // accepted recipient addresses, normalised, each once
	users []recipient // the distinct local users they resolve to
	// remote are the recipients outside Yubin: on submission, remote
	// addresses and the external targets of local aliases; on intake, the
	// external targets of local aliases and the senders SRS addresses
	// stand for (forwards). Each once.
	remote []string
	// forwardVia maps each intake forward in remote to the local domain
	// that forwards it (the alias's, or the SRS address's): the domain of
	// the rewritten sender and of the ARC set.
	forwardVia map[string]string
	// domains caches the users' domains read in this transaction (for the
	// quota at RCPT and the filter policy), by name (nil when the look-up
	// failed).
	domains map[string]*mailstore.Domain
}

// recipient is one local user a message goes to.
type recipient struct {
	addr string // the envelope address that led to user
	user *mailstore.User
	// sub is the subaddress detail (RFC 5233) user was reached with, as
	// Sieve's :detail sees it; zero for none.
	sub core.Subaddress
}

// deliveredTo is the address of the recipient's mailbox with its
// subaddress detail: ann+news@example.com.
func (r recipient) deliveredTo() string { return r.sub.Apply(r.user.Address) }

// newSession is go-smtp's Backend: called at the first HELO/EHLO of a
// connection, and again after STARTTLS.
func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	nc := c.Conn()
	sess := &session{srv: s, ctx: s.ctx}
	var cc *clientConn
	switch x := nc.(type) {
	case *clientConn:
		cc = x
	case *tls.Conn:
		cs := x.ConnectionState()
		sess.tls = &cs
		cc, _ = x.NetConn().(*clientConn)
	}
	if cc == nil {
		// Not from our lifecycle (go-smtp wraps nothing else, so this is
		// defensive): serve it, without shutdown tracking.
		cc = newClientConn(nc, &connState{srv: s})
	}
	sess.st = cc.st
	sess.st.setOut(nc)
	if s.isClosing() {
		return nil, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: s.opts.Hostname + " shutting down"}
	}
	sess.begin(nc.RemoteAddr(), c.Hostname())
	return sess, nil
}

// begin counts a new session and fills in what it knows of its client.
func (sess *session) begin(remote net.Addr, helo string) {
	s := sess.srv
	s.stats.sessions.Add(1)
	sess.info = filters.ConnInfo{
		RemoteAddr: addrPort(remote),
		HELO:       helo,
		TLS:        sess.tls != nil,
		Hostname:   s.opts.Hostname,
	}
	sess.log = s.log.With("remote", sess.info.RemoteAddr.String(), "helo", sess.info.HELO, "tls", sess.info.TLS)
}

// addrPort turns a connection's remote address into a netip.AddrPort, with
// IPv4-mapped IPv6 addresses unmapped.
func addrPort(a net.Addr) netip.AddrPort {
	if a == nil {
		return netip.AddrPort{}
	}
	var ap netip.AddrPort
	if ta, ok := a.(*net.TCPAddr); ok {
		ap = ta.AddrPort()
	} else if p, err := netip.ParseAddrPort(a.String()); err == nil {
		ap = p
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// smtpErr builds a reply.
func smtpErr(code int, enh smtp.EnhancedCode, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

// recoverPanic turns a panic in a session method into a 451, so that one
// bad message costs one transaction, not the server.
func (s *session) recoverPanic(cmd string, err *error) {
	p := recover()
	if p == nil {
		return
	}
	s.srv.stats.tempFailed.Add(1)
	s.log.Error("panic in SMTP session", "command", cmd, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	*err = smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Internal error, please try again later")
}

// Mail starts a transaction. The null sender <> is accepted (bounces must
// get through); other senders must be well-formed, and pass the filters'
// sender check.
func (s *session) Mail(from string, opts *smtp.MailOptions) (err error) {
	defer s.recoverPanic("MAIL", &err)
	if opts == nil {
		opts = &smtp.MailOptions{}
	}
	s.mu.Lock()
	poisoned := s.poisoned
	s.mu.Unlock()
	if poisoned {
		s.st.closeWith(abortedBDATReply, false)
		return smtpErr(421, smtp.EnhancedCode{4, 3, 0}, "BDAT transfer aborted, please reconnect")
	}
	if opts.Size > s.srv.opts.MaxMessageBytes {
		s.srv.stats.reject(RejectSize)
		return smtpErr(552, smtp.EnhancedCode{5, 3, 4}, fmt.Sprintf("Message too large: the limit is %d bytes", s.srv.opts.MaxMessageBytes))
	}
	if from != "" {
		if !opts.UTF8 && !isASCII(from) {
			s.srv.stats.reject(RejectBadAddress)
			return smtpErr(553, smtp.EnhancedCode{5, 6, 7}, "Non-ASCII sender address needs SMTPUTF8")
		}
		if err := checkSender(from); err != nil {
			s.srv.stats.reject(RejectBadAddress)
			s.log.Info("bad sender address", "from", from, "err", err)
			return smtpErr(501, smtp.EnhancedCode{5, 1, 7}, "Bad sender address syntax")
		}
	}
	if s.srv.sub != nil {
		// Submission: logged in, own address, within the sending rate.
		if e := s.submissionMail(from); e != nil {
			return e
		}
	}
	fctx, cancel := context.WithTimeout(s.ctx, filterTimeout)
	v := s.srv.filters.CheckSender(fctx, s.info, from)
	cancel()
	switch v.Action {
	case filters.Reject:
		s.srv.stats.reject(RejectSender)
		e := verdictError(v, 550, smtp.EnhancedCode{5, 7, 1}, "Sender rejected")
		s.log.Info("sender rejected", "from", from, "code", e.Code, "reason", v.Reason)
		return e
	case filters.TempFail:
		s.srv.stats.tempFailed.Add(1)
		e := verdictError(v, 451, smtp.EnhancedCode{4, 7, 1}, "Sender check failed, please try again later")
		s.log.Info("sender tempfailed", "from", from, "code", e.Code, "reason", v.Reason)
		return e
	}
	if !s.st.beginTx() {
		return smtpErr(421, smtp.EnhancedCode{4, 3, 2}, s.srv.opts.Hostname+" shutting down")
	}
	s.mu.Lock()
	s.tx = &transaction{start: time.Now(), from: from, utf8: opts.UTF8, size: opts.Size}
	s.mu.Unlock()
	return nil
}

// checkSender accepts what core.ParseAddress accepts, and also address
// literals (user@[192.0.2.1]), which are valid in a reverse path.
func checkSender(from string) error {
	if _, err := core.ParseAddress(from); err == nil {
		return nil
	}
	at := strings.LastIndexByte(from, '@')
	if at > 0 && strings.HasPrefix(from[at+1:], "[") && strings.HasSuffix(from, "]") {
		if _, err := core.ParseAddress(from[:at] + "@example.com"); err != nil {
			return fmt.Errorf("sender %q: %w", from, err)
		}
		lit := strings.TrimPrefix(from[at+2:len(from)-1], "IPv6:")
		if _, err := netip.ParseAddr(lit); err == nil {
			return nil
		}
	}
	_, err := core.ParseAddress(from)
	return fmt.Errorf("sender: %w", err)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Rcpt adds a recipient. Only existing, enabled users of enabled local
// domains, and aliases (catch-alls included) that lead to some, are
// accepted, and the refusal comes now, at RCPT time, so that Yubin never
// has to bounce (no backscatter). Anything else is refused: an MX never
// relays, except for the external targets of local aliases and the SRS
// addresses it made when forwarding (forward.go), whose mail goes on
// through the outbound queue.
//
// On a submission server (after AUTH), addresses outside Yubin, and the
// external targets of local aliases, are accepted as remote recipients for
// the outbound queue; local addresses are checked as on intake.
//
// The quota is checked here too (see rcptQuota): a recipient whose mailbox
// (or domain) is already full gets a 452 4.2.2, one whose whole quota is
// smaller than the SIZE= of MAIL FROM a 552 5.2.2; the other recipients
// are unaffected. The check at delivery stays, as the authority: a message
// may still find a mailbox full there (no SIZE=, or others filling it
// meanwhile).
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) (err error) {
	defer s.recoverPanic("RCPT", &err)
	s.mu.Lock()
	tx := s.tx
	s.mu.Unlock()
	if tx == nil {
		return smtpErr(503, smtp.EnhancedCode{5, 5, 1}, "Send MAIL first")
	}
	if s.srv.sub != nil {
		// Submission: each recipient counts in the sending rate.
		if left := s.srv.sub.rate.remaining(s.user.ID); left >= 0 && len(tx.rcpts) >= left {
			s.srv.stats.tempFailed.Add(1)
			s.log.Info("recipient refused: sending rate exceeded", "rcpt", to)
			return smtpErr(450, smtp.EnhancedCode{4, 7, 1}, "Sending rate exceeded: no more recipients for now, please try again later")
		}
	}
	if strings.EqualFold(to, "postmaster") {
		// RFC 5321 section 4.1.1.3: "Postmaster" without a domain must
		// be accepted; it is this host's postmaster.
		pm, reply := s.hostPostmaster(tx)
		if reply != nil {
			return reply
		}
		to = pm
	}
	addr, perr := core.ParseAddress(to)
	if perr != nil {
		s.srv.stats.reject(RejectBadAddress)
		s.log.Info("bad recipient address", "from", tx.from, "rcpt", to, "err", perr)
		return smtpErr(501, smtp.EnhancedCode{5, 1, 3}, "Bad recipient address syntax")
	}
	if !tx.utf8 && !isASCII(to) {
		s.srv.stats.reject(RejectBadAddress)
		return smtpErr(553, smtp.EnhancedCode{5, 6, 7}, "Non-ASCII recipient address needs SMTPUTF8")
	}
	ctx, cancel := context.WithTimeout(s.ctx, lookupTimeout)
	defer cancel()
	store := s.srv.opts.Store
	var rs []mailstore.Recipient
	var rerr error
	if s.srv.sub == nil && (s.srv.opts.SRS == nil || !srs.IsSRS(addr.Local)) {
		// Intake, the usual case first: an address that resolves is in a
		// domain served here (Resolve checks), which saves a look-up of
		// the domain per recipient. Any failure takes the whole way
		// below, which tells relaying from an unknown user.
		if rs, rerr = s.srv.resolve(ctx, addr.String()); rerr == nil {
			return s.acceptResolved(ctx, tx, addr, rs)
		}
	}
	local, lerr := store.IsLocalDomain(ctx, addr.Domain)
	if lerr != nil {
		s.log.Error("recipient lookup failed", "rcpt", addr.String(), "err", lerr)
		return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary lookup failure, please try again later")
	}
	if !local && s.srv.sub != nil {
		// Submission: an authenticated user's mail for elsewhere goes to
		// the outbound queue, with the local part as given (its case is
		// the destination's business).
		return s.addRecipient(tx, addr.String(), nil, []string{to})
	}
	if !local {
		// Intake never relays.
		s.srv.stats.reject(RejectRelay)
		s.log.Info("relay denied", "from", tx.from, "rcpt", addr.String())
		return s.refuseRecipient(smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "Relay access denied"))
	}
	if s.srv.sub == nil && s.srv.opts.SRS != nil && srs.IsSRS(addr.Local) {
		// A bounce (or reply) to an address we rewrote when forwarding.
		orig, done, reply := s.srsRecipient(ctx, tx, to[:strings.LastIndexByte(to, '@')], addr)
		if done || reply != nil {
			return reply
		}
		addr = orig
	}
	rs, rerr = s.srv.resolve(ctx, addr.String())
	if errors.Is(rerr, core.ErrNotFound) {
		s.srv.stats.reject(RejectUnknownUser)
		s.log.Info("unknown recipient", "from", tx.from, "rcpt", addr.String())
		return s.refuseRecipient(smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "No such user here"))
	}
	if rerr != nil {
		s.log.Error("recipient lookup failed", "rcpt", addr.String(), "err", rerr)
		return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary lookup failure, please try again later")
	}
	return s.acceptResolved(ctx, tx, addr, rs)
}

// acceptResolved ends RCPT for a local address that resolved to rs: the
// quota check, then the recipient is added (or forwarded).
func (s *session) acceptResolved(ctx context.Context, tx *transaction, addr core.Address, rs []mailstore.Recipient) error {
	var external []string
	for _, r := range rs {
		if r.External != "" {
			external = append(external, r.External)
		}
	}
	if reply := s.rcptQuota(ctx, tx, addr.String(), rs); reply != nil {
		return reply
	}
	if len(external) > 0 && s.srv.sub == nil {
		// An alias forwards elsewhere: after the filters, through the
		// outbound queue, with the sender rewritten (forward.go).
		s.log.Info("recipient forwards to external addresses", "from", tx.from, "rcpt", addr.String(), "external", external)
		return s.addForward(tx, addr.String(), rs, external, addr.Domain)
	}
	return s.addRecipient(tx, addr.String(), rs, external)
}

// resolve is Store.Resolve with the server's subaddressing: the one
// reading of a local address for RCPT, and for the sender ownership check
// of submission.
func (s *Server) resolve(ctx context.Context, addr string) ([]mailstore.Recipient, error) {
	return s.opts.Store.Resolve(ctx, addr, mailstore.ResolveOptions{SubaddressDelimiters: s.opts.SubaddressDelimiters})
}

// refuseRecipient returns reply, the refusal of a recipient that is
// unknown or not served here, against address harvesting: the first
// freeUnknownRecipients of a session are answered at once, each later one
// after UnknownRecipientDelay, and the MaxUnknownRecipients-th ends the
// session with 421 4.7.0.
func (s *session) refuseRecipient(reply *smtp.SMTPError) *smtp.SMTPError {
	s.mu.Lock()
	s.unknown++
	n := s.unknown
	s.mu.Unlock()
	o := s.srv.opts
	if n >= o.MaxUnknownRecipients {
		s.log.Warn("too many unknown recipients; closing the session", "unknown", n)
		bye := smtpErr(421, smtp.EnhancedCode{4, 7, 0}, "Too many unknown recipients, closing the connection")
		s.st.closeWith("421 4.7.0 "+bye.Message, false)
		return bye
	}
	if n > freeUnknownRecipients {
		if sleep := s.srv.hooks.sleep; sleep != nil {
			sleep(o.UnknownRecipientDelay)
		} else {
			t := time.NewTimer(o.UnknownRecipientDelay)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
			}
		}
	}
	return reply
}

// addRecipient adds an accepted recipient address to the transaction, with
// the local users it resolves to and the remote addresses it stands for.
func (s *session) addRecipient(tx *transaction, a string, rs []mailstore.Recipient, remote []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tx != tx {
		return smtpErr(503, smtp.EnhancedCode{5, 5, 1}, "Send MAIL first")
	}
	if len(tx.rcpts) >= s.srv.opts.MaxRecipients {
		return smtpErr(452, smtp.EnhancedCode{4, 5, 3}, "Too many recipients")
	}
	if slices.Contains(tx.rcpts, a) {
		return nil
	}
	tx.rcpts = append(tx.rcpts, a)
	for _, r := range rs {
		if r.User != nil && !slices.ContainsFunc(tx.users, func(x recipient) bool { return x.user.ID == r.User.ID }) {
			// Each user once, whatever addresses or aliases lead there.
			tx.users = append(tx.users, recipient{addr: a, user: r.User, sub: r.Subaddress})
		}
	}
	for _, x := range remote {
		if !slices.Contains(tx.remote, x) {
			tx.remote = append(tx.remote, x)
		}
	}
	return nil
}

// hostPostmaster returns the address the bare recipient "postmaster"
// stands for: postmaster@ the first domain served here among the server's
// host name and its parent domains (mx.example.com, example.com), or else
// the first domain served here by name. The store then finds who reads
// it.
func (s *session) hostPostmaster(tx *transaction) (string, *smtp.SMTPError) {
	ctx, cancel := context.WithTimeout(s.ctx, lookupTimeout)
	defer cancel()
	store := s.srv.opts.Store
	for h := s.srv.opts.Hostname; strings.Contains(h, "."); h = h[strings.IndexByte(h, '.')+1:] {
		local, err := store.IsLocalDomain(ctx, h)
		if err != nil {
			s.log.Error("postmaster lookup failed", "domain", h, "err", err)
			return "", smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary lookup failure, please try again later")
		}
		if local {
			return "postmaster@" + h, nil
		}
	}
	ds, err := store.ListDomains(ctx)
	if err != nil {
		s.log.Error("postmaster lookup failed", "err", err)
		return "", smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary lookup failure, please try again later")
	}
	for _, d := range ds {
		if d.Enabled {
			return "postmaster@" + d.Name, nil
		}
	}
	s.srv.stats.reject(RejectUnknownUser)
	s.log.Info("unknown recipient: no domain served here for postmaster", "from", tx.from)
	return "", smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "No such user here")
}

// rcptQuota checks the quota of the local users an address resolves to,
// as they were read by ResolveRecipients. It returns nil if every one of
// them has room, and the reply refusing the address otherwise: 552 5.2.2
// if the message (by its SIZE=, or the size remembered from a message
// without SIZE= that did not fit: see quota.go) is larger than the whole
// quota of every one of them, 452 4.2.2 if some mailbox or domain is full
// now. An alias with a full target is refused as a whole, as delivery is
// all or nothing.
//
// A user is full when its bytes or messages are at or over the quota
// (0: unlimited), or its domain's bytes are, or when a SIZE= given does not
// fit in what is left.
func (s *session) rcptQuota(ctx context.Context, tx *transaction, addr string, rs []mailstore.Recipient) *smtp.SMTPError {
	var users, full, tooBig int
	if tx.domains == nil {
		tx.domains = make(map[string]*mailstore.Domain, 1)
	}
	domains := tx.domains // read once per transaction: the filter policy uses them too
	now := time.Now()
	for _, r := range rs {
		u := r.User
		if u == nil {
			continue
		}
		users++
		size := tx.size
		if size == 0 {
			// A retry of a message that did not fit (see quota.go).
			size = s.srv.misses.size(u.ID, tx.from, now)
		}
		switch {
		case u.QuotaBytes > 0 && size > u.QuotaBytes:
			tooBig++
			continue
		case u.QuotaBytes > 0 && (u.UsedBytes >= u.QuotaBytes || size > u.QuotaBytes-u.UsedBytes),
			u.QuotaMessages > 0 && u.UsedMessages >= u.QuotaMessages:
			full++
			continue
		}
		dn := u.Address[strings.LastIndexByte(u.Address, '@')+1:]
		d, ok := domains[dn]
		if !ok {
			var err error
			d, err = s.srv.opts.Store.GetDomain(ctx, dn)
			if err != nil {
				// The delivery checks again: a failed look-up here only
				// loses the early answer.
				s.log.Warn("domain quota lookup failed", "rcpt", addr, "domain", dn, "err", err)
				d = nil
			}
			domains[dn] = d
		}
		if d != nil && d.QuotaBytes > 0 && (d.UsedBytes >= d.QuotaBytes || size > d.QuotaBytes-d.UsedBytes) {
			full++
		}
	}
	switch {
	case users == 0 || full+tooBig == 0:
		return nil
	case tooBig == users:
		s.srv.stats.reject(RejectQuota)
		s.log.Info("recipient refused: message larger than the quota", "from", tx.from, "rcpt", addr, "size", tx.size)
		return smtpErr(552, smtp.EnhancedCode{5, 2, 2}, "<"+addr+">: message larger than the recipient's mailbox quota")
	default:
		s.srv.stats.tempFailed.Add(1)
		s.log.Info("recipient refused: mailbox full", "from", tx.from, "rcpt", addr, "size", tx.size)
		return smtpErr(452, smtp.EnhancedCode{4, 2, 2}, "<"+addr+">: recipient's mailbox full, please try again later")
	}
}

// Reset ends the transaction (RSET, a new EHLO, the end of DATA).
//
// A BDAT transfer cut short (RSET or EHLO between chunks, a chunk over the
// size limit) ends the connection with a 421. go-smtp v0.25.1 runs the
// backend's Data for BDAT on a goroutine that, after Data returns, sends
// its result on a channel it reads from a Conn field; the next BDAT
// transaction on the same connection replaces that field without
// synchronisation, so a late result from the aborted transfer can land in
// the new transaction's channel: the new message would get the old reply
// (though stored) and its own result would block forever. No new
// transaction on such a connection means no such mix-up.
func (s *session) Reset() {
	s.mu.Lock()
	had := s.tx != nil
	s.tx = nil
	if s.bdatOpen {
		s.bdatOpen = false
		s.poisoned = true
	}
	poisoned := s.poisoned
	s.mu.Unlock()
	if poisoned {
		s.log.Info("BDAT transfer aborted; closing the connection")
		if had {
			s.st.endTx()
		}
		s.st.closeWith(abortedBDATReply, false)
		return
	}
	if had {
		s.st.endTx()
	} else if s.srv.isClosing() {
		s.st.closeIfIdle()
	}
}

// Logout ends the session: the connection closes, or STARTTLS begins. In
// the latter case the old writer must no longer be used for a 421, and a
// transaction begun before STARTTLS is over (go-smtp does not call Reset
// then).
func (s *session) Logout() error {
	s.mu.Lock()
	had := s.tx != nil
	s.tx = nil
	bdat := s.bdatOpen
	s.mu.Unlock()
	s.st.setOut(nil)
	if had {
		s.st.endTx()
	}
	if bdat {
		// STARTTLS in the middle of a BDAT transfer: the next session
		// must not begin a transaction on this connection (see Reset).
		s.st.closeConn()
	}
	return nil
}

// outcome is how one message ended, for the log line and the counters.
type outcome struct {
	id      string
	size    int64
	verdict string
	reason  string
	reply   *smtp.SMTPError
	// authResults is the value of the Authentication-Results field the
	// filters added (intake), for the ARC set of forwarded copies.
	authResults string
	// forwardable returns the message as it goes to forwards and Sieve
	// redirects elsewhere: the fields Yubin adds on top of the message
	// exactly as it came in, so that its DKIM signatures still verify;
	// nil means the stored form.
	forwardable func() io.Reader
}

// Data receives, filters and stores one message (DATA or BDAT). The 250 is
// returned only after the store has made the message durable.
func (s *session) Data(r io.Reader) (err error) {
	start := time.Now()
	defer s.recoverPanic("DATA", &err)
	s.mu.Lock()
	tx := s.tx
	s.mu.Unlock()
	if tx == nil || len(tx.users) == 0 && len(tx.remote) == 0 {
		_, _ = io.Copy(io.Discard, r)
		return smtpErr(503, smtp.EnhancedCode{5, 5, 1}, "No valid recipients")
	}
	out := outcome{id: newQueueID()}
	defer func() { s.logOutcome(tx, &out, time.Since(start)) }()

	sp := newSpool(s.srv.opts.SpoolDir, s.srv.opts.MaxMessageBytes, spoolMemory)
	defer func() {
		if cerr := sp.Close(); cerr != nil {
			s.log.Error("remove spool file", "queue_id", out.id, "err", cerr)
		}
	}()
	// go-smtp hands BDAT data over through a pipe, DATA directly.
	_, bdat := r.(*io.PipeReader)
	if bdat {
		s.mu.Lock()
		s.bdatOpen = true
		s.mu.Unlock()
	}
	// ReadTimeout bounds the silence between packets of the message, not
	// the time to send all of it: every read from the socket renews it
	// (go-smtp's reader fills a whole buffer per Read, across many).
	s.st.conn.idle.Store(int64(s.srv.opts.ReadTimeout))
	_ = s.st.conn.SetReadDeadline(time.Now().Add(s.srv.opts.ReadTimeout))
	// Submitted messages go on to other servers: their line ends are
	// made CRLF before anything (the DKIM signature included) is done.
	guard := newDataGuard(r, !bdat && !exactEnd(r))
	var in io.Reader = guard
	if s.srv.sub != nil {
		in = core.NewCRLFReader(guard)
	}
	_, rerr := sp.ReadFrom(in)
	guard.release()
	s.st.conn.idle.Store(0)
	if guard.brokenEndSeen() {
		// go-smtp's reader missed the end of the data, and would wait
		// for more: answer here, and close the connection, which is no
		// longer in step with go-smtp's idea of it.
		defer func() { s.closeAfterBrokenEnd(out.reply) }()
	}
	if bdat && (rerr == nil || errors.Is(rerr, errLineTooLong)) {
		s.mu.Lock()
		s.bdatOpen = false // LAST arrived: go-smtp waits for this Data's result
		s.mu.Unlock()
	}
	out.size = sp.Size()
	if rerr != nil {
		var se *smtp.SMTPError
		switch {
		case errors.Is(rerr, core.ErrTooLarge) || errors.As(rerr, &se) && se.Code == 552:
			out.verdict, out.reason = "reject", "size"
			s.srv.stats.reject(RejectSize)
			out.reply = smtpErr(552, smtp.EnhancedCode{5, 3, 4}, fmt.Sprintf("Message too large: the limit is %d bytes", s.srv.opts.MaxMessageBytes))
		case errors.Is(rerr, smtp.ErrTooLongLine) || errors.Is(rerr, errLineTooLong):
			// RFC 5321 section 4.5.3.1.6. After a line longer than
			// go-smtp's limit (2,000), go-smtp closes the connection
			// next; after a shorter one the session goes on.
			out.verdict, out.reason = "reject", "line too long"
			s.srv.stats.reject(RejectSize)
			out.reply = smtpErr(500, smtp.EnhancedCode{5, 5, 2}, fmt.Sprintf("Message refused: a line is longer than %d bytes with its CRLF (RFC 5321 section 4.5.3.1.6)", maxLineBytes))
		default:
			// The client went away, timed out, or reset (RSET during
			// BDAT): nobody is waiting for this reply.
			out.verdict, out.reason = "aborted", rerr.Error()
			out.reply = smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Error receiving the message, please try again")
		}
		return out.reply
	}
	if s.srv.sub != nil {
		out.reply = s.processSubmission(tx, sp, &out)
	} else {
		out.reply = s.process(tx, sp, &out)
	}
	return out.reply
}

// closeAfterBrokenEnd writes reply (the one Data returns, which go-smtp
// could not deliver: it is still waiting for the end of the data) and
// closes the connection.
func (s *session) closeAfterBrokenEnd(reply *smtp.SMTPError) {
	if reply == nil {
		reply = smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Internal error, please try again later")
	}
	s.log.Info("end of data after a bare CR; answering and closing the connection")
	enh := reply.EnhancedCode
	s.st.closeWith(fmt.Sprintf("%d %d.%d.%d %s", reply.Code, enh[0], enh[1], enh[2], reply.Message), false)
}

// process runs the loop check and the filters on a spooled message and
// stores it according to the verdict. It returns the reply to send.
func (s *session) process(tx *transaction, sp *spool, out *outcome) *smtp.SMTPError {
	hs, header, reply := s.readHeader(sp, out)
	if reply != nil {
		return reply
	}
	v := s.check(tx, sp, header, out)
	received := sp // the message as it came in, for forwards
	if v.Action < filters.TempFail && !v.Rewrite.IsZero() {
		nsp, nv, reply := s.applyRewrite(tx, sp, v, out)
		if reply != nil {
			return reply
		}
		if nsp != sp {
			defer nsp.Close()
			sp = nsp
			hs, _ = scanHeader(sp.Reader(), maxHeaderBytes, nil, false)
		}
		v = nv
	}

	mailbox, quarantine := "", false
	switch v.Action {
	case filters.Reject:
		s.srv.stats.reject(RejectPolicy)
		return verdictError(v, 550, smtp.EnhancedCode{5, 7, 1}, "Message rejected by policy")
	case filters.TempFail:
		s.srv.stats.tempFailed.Add(1)
		return verdictError(v, 451, smtp.EnhancedCode{4, 7, 1}, "Message could not be checked, please try again later")
	case filters.Junk:
		mailbox = `\Junk`
	case filters.Quarantine:
		quarantine = true
	}

	// The Return-Path field is the final delivery's to write (RFC 5321
	// section 4.4): one that came with the message is not to be trusted.
	hs, reply = s.removeFields(sp, hs, v, []string{"Return-Path"}, out)
	if reply != nil {
		return reply
	}
	prefix := s.prefix(tx, v, out.id)
	if quarantine {
		// A held message is one body for all its recipients until it is
		// released: it gets the fields all copies share.
		prefix = deliveryFields(tx) + prefix
	}
	body, size := assemble(prefix, sp, hs.drop)
	message := func() io.Reader {
		r, _ := assemble(prefix, sp, hs.drop)
		return r
	}
	out.authResults = authResultsOf(v)
	out.forwardable = func() io.Reader {
		r, _ := assemble(prefix, received, nil)
		return r
	}
	forward := len(tx.remote) > 0
	if forward && (mailbox != "" || quarantine) {
		// Never forward what the filters judged spam or held: the local
		// recipients get it in Junk (or quarantine); with none, it is
		// refused, so that its sender learns of it (no backscatter).
		if len(tx.users) == 0 {
			out.verdict = "reject"
			s.srv.stats.reject(RejectPolicy)
			s.log.Info("message judged junk or held for review: not forwarded, refused", "queue_id", out.id, "to", tx.remote, "reason", v.Reason)
			return smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "Message judged as spam: not forwarded")
		}
		s.log.Info("message judged junk or held for review: kept here, not forwarded", "queue_id", out.id, "to", tx.remote, "reason", v.Reason)
		forward = false
	}

	var plan *sievePlan
	if !quarantine {
		// The recipients' Sieve scripts decide where the copies go.
		plan, reply = s.sieveDeliveries(tx, copyFields(tx, message, size), mailbox, out)
		if reply != nil {
			return reply
		}
	}
	if h := s.srv.hooks.beforeDeliver; h != nil {
		h()
	}
	if quarantine {
		return s.quarantine(tx, v, header.Get("Subject"), body, out)
	}
	results, reply := s.storePlan(plan, body, out)
	if reply != nil {
		return reply
	}
	if reply := s.checkResults(tx, results, plan, size, out); reply != nil {
		return reply
	}
	if reply := s.sieveEffects(tx, plan, message, results, out); reply != nil {
		return reply
	}
	if forward {
		if reply := s.queueForwards(tx, results, out); reply != nil {
			return reply
		}
	}
	s.srv.stats.accepted.Add(1)
	if mailbox != "" {
		s.srv.stats.junk.Add(1)
	}
	return smtpErr(250, smtp.EnhancedCode{2, 0, 0}, "OK: queued as "+out.id)
}

// readHeader scans the spooled message's header, refuses a message whose
// header is too large to check or that looks like a mail loop, and parses
// the header for the filters.
func (s *session) readHeader(sp *spool, out *outcome) (headerScan, textproto.Header, *smtp.SMTPError) {
	hs, err := scanHeader(sp.Reader(), maxHeaderBytes, nil, true)
	if err != nil {
		s.log.Error("scan header", "queue_id", out.id, "err", err)
		s.srv.stats.tempFailed.Add(1)
		out.verdict, out.reason = "tempfail", "scan header: "+err.Error()
		return hs, textproto.Header{}, smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Local error in processing, please try again later")
	}
	if !hs.complete {
		out.verdict, out.reason = "reject", "header too large"
		s.srv.stats.reject(RejectSize)
		return hs, textproto.Header{}, smtpErr(552, smtp.EnhancedCode{5, 3, 4}, fmt.Sprintf("Message header too large to check: the limit is %d bytes", maxHeaderBytes))
	}
	if hs.received > maxReceived {
		out.verdict, out.reason = "reject", fmt.Sprintf("loop: %d Received fields", hs.received)
		s.srv.stats.reject(RejectLoop)
		return hs, textproto.Header{}, smtpErr(554, smtp.EnhancedCode{5, 4, 6}, "Too many hops: mail loop detected")
	}
	header := parseFields(hs.fields)
	hs.fields = nil
	return hs, header, nil
}

// check runs the content filters on the spooled message.
func (s *session) check(tx *transaction, sp *spool, header textproto.Header, out *outcome) filters.Verdict {
	msg := &filters.Message{
		Conn:     s.info,
		Envelope: filters.Envelope{MailFrom: tx.from, Recipients: append([]string(nil), tx.rcpts...)},
		Header:   header,
		Size:     sp.Size(),
		Open:     sp.Reader,
	}
	for _, r := range tx.users {
		msg.Users = append(msg.Users, filters.LocalUser{ID: r.user.ID, Address: r.user.Address})
	}
	fctx, cancel := context.WithTimeout(s.ctx, filterTimeout)
	msg.Policy = s.filterPolicy(fctx, tx)
	v := s.srv.filters.Check(fctx, msg)
	cancel()
	out.verdict, out.reason = v.Action.String(), v.Reason
	return v
}

// filterPolicy returns the filter policy of the message to tx's local
// users: the strictest of their domains' settings. A domain that cannot be
// read counts as one on the server's settings.
func (s *session) filterPolicy(ctx context.Context, tx *transaction) filters.Policy {
	if tx.domains == nil {
		tx.domains = make(map[string]*mailstore.Domain, 1)
	}
	var ps []filters.DomainPolicy
	seen := make(map[string]bool, 1)
	for _, r := range tx.users {
		dn := r.user.Address[strings.LastIndexByte(r.user.Address, '@')+1:]
		if seen[dn] {
			continue
		}
		seen[dn] = true
		d, ok := tx.domains[dn]
		if !ok {
			var err error
			if d, err = s.srv.opts.Store.GetDomain(ctx, dn); err != nil {
				s.log.Warn("domain filter settings lookup failed; using the server's", "domain", dn, "err", err)
				d = nil
			}
			tx.domains[dn] = d
		}
		var p filters.DomainPolicy
		if d != nil {
			f := d.DomainFilterSettings
			p = filters.DomainPolicy{JunkScore: f.SpamJunkScore, RejectScore: f.SpamRejectScore, SpamFilter: f.SpamFilter, VirusScan: f.VirusScan, DMARCEnforce: f.DMARCEnforce}
		}
		ps = append(ps, p)
	}
	return filters.StrictestPolicy(ps...)
}

// removeFields scans the header again when fields are to be removed (the
// ones the filters name, and extra), and returns the scan with their byte
// ranges to drop. A failed scan fails the message: a forged field must
// never be kept for want of reading it.
func (s *session) removeFields(sp *spool, hs headerScan, v filters.Verdict, extra []string, out *outcome) (headerScan, *smtp.SMTPError) {
	names := append(slices.Clip(v.RemoveHeaders), extra...)
	if len(names) == 0 {
		return hs, nil
	}
	remove := make(map[string]bool, len(names))
	for _, n := range names {
		remove[strings.ToLower(n)] = true
	}
	hs2, err := scanHeader(sp.Reader(), maxHeaderBytes, func(name string) bool { return remove[strings.ToLower(name)] }, false)
	if err == nil && !hs2.complete {
		err = errors.New("header larger than at the first scan")
	}
	if err != nil {
		s.log.Error("scan header", "queue_id", out.id, "err", err)
		s.srv.stats.tempFailed.Add(1)
		out.verdict, out.reason = "tempfail", "scan header: "+err.Error()
		return hs, smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Local error in processing, please try again later")
	}
	return hs2, nil
}

// quarantine holds a message the filters want an administrator to look
// at, durably, instead of delivering it; the 250 follows only once it is
// stored.
func (s *session) quarantine(tx *transaction, v filters.Verdict, subject string, body io.Reader, out *outcome) *smtp.SMTPError {
	rcpts := make([]string, len(tx.users))
	for i, r := range tx.users {
		rcpts[i] = r.user.Address
	}
	filter := v.Stage // the stage that decided
	if filter == "" {
		filter = "filters"
	}
	q, err := s.srv.opts.Store.Quarantine(s.ctx, mailstore.QuarantineInput{
		Body:       body,
		From:       tx.from,
		Recipients: rcpts,
		Subject:    subject,
		Reason:     v.Reason,
		Filter:     filter,
	})
	if err != nil {
		s.log.Error("quarantine message", "queue_id", out.id, "err", err)
		s.srv.stats.tempFailed.Add(1)
		out.reason = "quarantine: " + err.Error()
		return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Local error in processing, please try again later")
	}
	s.log.Warn("message quarantined", "queue_id", out.id, "quarantine_id", q.ID, "reason", v.Reason, "filter", filter)
	s.srv.stats.accepted.Add(1)
	s.srv.stats.quarantined.Add(1)
	out.verdict = "quarantine"
	return smtpErr(250, smtp.EnhancedCode{2, 0, 0}, "OK: queued as "+out.id)
}

// checkResults looks at the per-target outcome of an all-or-nothing
// delivery (storePlan). It returns nil if every target got its copy, and
// otherwise (no copy was made) the reply refusing the message: 452 4.2.2
// naming the recipients whose copies did not fit (552 5.2.2 when the
// message is larger than the whole quota of every mailbox it was to go
// into), 451 4.3.0 for any other failure. A copy that is a recipient's
// Sieve redirect to another local mailbox counts for the recipient. Full
// mailboxes are remembered for the retry (quota.go).
func (s *session) checkResults(tx *transaction, results []mailstore.DeliveryResult, plan *sievePlan, size int64, out *outcome) *smtp.SMTPError {
	var full []string
	var tooBig, other int
	now := time.Now()
	for i, res := range results {
		r, u := tx.users[plan.owners[i]], plan.users[i]
		size := size + int64(len(plan.targets[i].HeaderPrefix)) // this copy
		switch {
		case res.Err == nil, errors.Is(res.Err, mailstore.ErrNotDelivered):
		case errors.Is(res.Err, core.ErrOverQuota):
			s.srv.misses.record(u.ID, tx.from, size, now)
			s.log.Info("recipient's mailbox full; no copy made", "queue_id", out.id, "rcpt", r.addr, "mailbox_of", u.Address, "size", size)
			if u.QuotaBytes > 0 && size > u.QuotaBytes {
				tooBig++
			}
			if !slices.Contains(full, r.addr) {
				full = append(full, r.addr)
			}
		default:
			other++
			s.log.Warn("delivery to recipient failed; no copy made", "queue_id", out.id, "rcpt", r.addr, "err", res.Err)
		}
	}
	if len(full) == 0 && other == 0 {
		return nil
	}
	if other > 0 {
		out.verdict, out.reason = "tempfail", "store: a recipient could not be served"
		s.srv.stats.tempFailed.Add(1)
		return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Local error in processing, please try again later")
	}
	names := "<" + strings.Join(full, ">, <") + ">"
	if len(names) > 200 {
		names = names[:200] + "..."
	}
	if tooBig == len(results) {
		out.verdict, out.reason = "reject", "quota: larger than the whole quota"
		s.srv.stats.reject(RejectQuota)
		return smtpErr(552, smtp.EnhancedCode{5, 2, 2}, names+": message larger than the recipient's mailbox quota")
	}
	out.verdict, out.reason = "tempfail", "quota: "+names
	s.srv.stats.tempFailed.Add(1)
	text := ": recipient's mailbox is full"
	if len(full) > 1 {
		text = ": recipients' mailboxes are full"
	}
	return smtpErr(452, smtp.EnhancedCode{4, 2, 2}, names+text+"; nothing was delivered, please try again later")
}

// prefix is what goes on top of every stored copy of the message, below
// each copy's own delivery fields (targetFields): the Received field, then
// the fields the filters add.
func (s *session) prefix(tx *transaction, v filters.Verdict, id string) string {
	var b strings.Builder
	b.WriteString(s.received(tx, id))
	for _, f := range v.AddHeaders {
		line, ok := formatField(f.Key, f.Value)
		if !ok {
			s.log.Warn("filter added a header field with an invalid name; dropped", "queue_id", id, "name", f.Key)
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// targetFields are the fields final delivery puts on top of the copy for
// the local user r (as Postfix's local delivery does): Return-Path with the
// envelope sender (RFC 5321 section 4.4), and Delivered-To with the address
// r was reached by, subaddress detail included (ann+news@example.com). Each
// copy names only its own recipient, so that no one learns of the others
// (Bcc recipients included). A mailbox reached by several addresses of one
// transaction (ann@ and ann+x@) gets one copy, named by the first address
// (tx.users holds each user once).
func targetFields(tx *transaction, r recipient) string {
	return "Return-Path: <" + tx.from + ">\r\nDelivered-To: " + r.deliveredTo() + "\r\n"
}

// copyFields returns the copies of message (of size bytes) as each
// recipient's will be stored, under its delivery fields (targetFields).
func copyFields(tx *transaction, message func() io.Reader, size int64) copyOf {
	return func(r recipient) (io.Reader, int64) {
		f := targetFields(tx, r)
		return io.MultiReader(strings.NewReader(f), message()), size + int64(len(f))
	}
}

// deliveryFields are the delivery fields of a message held in quarantine,
// whose one body serves every recipient once released: Return-Path, and
// Delivered-To only when the message is for one local user.
func deliveryFields(tx *transaction) string {
	if len(tx.users) == 1 {
		return targetFields(tx, tx.users[0])
	}
	return "Return-Path: <" + tx.from + ">\r\n"
}

// received is the Received field for the transaction.
func (s *session) received(tx *transaction, id string) string {
	ti := traceInfo{
		helo:     s.info.HELO,
		remote:   s.info.RemoteAddr.Addr(),
		hostname: s.srv.opts.Hostname,
		tls:      s.tls,
		auth:     s.info.AuthUser != "",
		utf8:     tx.utf8,
		id:       id,
		date:     time.Now(),
	}
	if len(tx.rcpts) == 1 {
		ti.rcpt = tx.rcpts[0]
	}
	return ti.received()
}

// assemble returns the message as stored: prefix, then the spooled message
// without the dropped ranges, and its size.
func assemble(prefix string, sp *spool, drop []span) (io.Reader, int64) {
	readers := []io.Reader{strings.NewReader(prefix)}
	size := int64(len(prefix))
	var off int64
	for _, d := range drop {
		if d.off > off {
			readers = append(readers, sp.Section(off, d.off-off))
			size += d.off - off
		}
		off = d.off + d.n
	}
	if off < sp.Size() {
		readers = append(readers, sp.Section(off, sp.Size()-off))
		size += sp.Size() - off
	}
	return io.MultiReader(readers...), size
}

// verdictError turns a Reject or TempFail verdict into a reply. The
// verdict's code is used when it is of the right class (5xx for a reject,
// 4xx for a temporary failure), the default otherwise.
func verdictError(v filters.Verdict, code int, enh smtp.EnhancedCode, text string) *smtp.SMTPError {
	class := code / 100
	e := smtpErr(code, enh, replyText(v.Reason, text))
	if v.Code/100 == class {
		e.Code = v.Code
		if v.EnhancedCode[0] == class {
			e.EnhancedCode = smtp.EnhancedCode(v.EnhancedCode)
		}
	}
	return e
}

// logOutcome writes the one log line per message.
func (s *session) logOutcome(tx *transaction, out *outcome, d time.Duration) {
	level, msg := slog.LevelInfo, "message accepted"
	code := 0
	if out.reply != nil {
		code = out.reply.Code
	}
	switch {
	case out.reply == nil:
		level, msg = slog.LevelError, "message failed"
	case out.verdict == "aborted":
		msg = "message aborted"
	case code >= 500:
		msg = "message rejected"
	case code >= 400:
		level, msg = slog.LevelWarn, "message tempfailed"
	}
	s.log.LogAttrs(s.ctx, level, msg,
		slog.String("queue_id", out.id),
		slog.String("from", tx.from),
		slog.Any("rcpts", tx.rcpts),
		slog.Int64("size", out.size),
		slog.String("verdict", out.verdict),
		slog.String("reason", out.reason),
		slog.Int("code", code),
		slog.Duration("duration", d),
	)
}
