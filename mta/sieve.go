package mta

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta/queue"
	"github.com/yubinmail/yubin/sieve"
)

// Sieve at delivery (RFC 5228). For every local recipient of a message the
// domain's policy script, then the user's active script, run after the
// filter chain and before the store (sieveDeliveries); their actions become
// the targets of the one all-or-nothing store delivery, and what goes
// elsewhere — redirects, vacation replies, rejection messages — is handed
// to the outbound queue (or delivered locally) before the 250
// (sieveEffects). A script that fails (a runtime error, a limit) or cannot
// be read leaves the message where it would have gone without one, and
// the log says why.

// sieveRunTimeout bounds one recipient's scripts (the scripts' own step
// limit normally ends a long run first).
const sieveRunTimeout = 10 * time.Second

// maxSieveCache is how many compiled scripts the server keeps.
const maxSieveCache = 1000

// SendRate caps the recipients each user may send to in an hour. One
// SendRate given to the submission server (SubmissionOptions.SendRate) and
// to the intake (Options.SendRate) makes the redirects of a user's Sieve
// script count against the same budget as the mail they send.
type SendRate struct{ r *sendRate }

// NewSendRate returns a SendRate of perHour recipients per user (0:
// DefaultRatePerHour, negative: no limit).
func NewSendRate(perHour int) *SendRate {
	if perHour == 0 {
		perHour = DefaultRatePerHour
	}
	return &SendRate{r: newSendRate(perHour, time.Hour)}
}

// sieveCache holds compiled scripts by the hash of their text.
type sieveCache struct {
	mu      sync.Mutex
	scripts map[[32]byte]*sieve.Script
}

// compile returns the compiled script of src, from the cache if it was
// compiled before.
func (c *sieveCache) compile(src string) (*sieve.Script, error) {
	key := sha256.Sum256([]byte(src))
	c.mu.Lock()
	sc, ok := c.scripts[key]
	c.mu.Unlock()
	if ok {
		return sc, nil
	}
	sc, err := sieve.Compile(src, sieve.Limits{})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.scripts == nil || len(c.scripts) >= maxSieveCache {
		c.scripts = make(map[[32]byte]*sieve.Script)
	}
	c.scripts[key] = sc
	c.mu.Unlock()
	return sc, nil
}

// sievePlan is what the scripts decided for one message: the store
// targets (owners[i] is the index in tx.users of the recipient whose
// script made targets[i], users[i] the account targets[i] stores into: the
// recipient's, or a local redirect target's) and what each recipient's
// script sends on.
type sievePlan struct {
	targets []mailstore.DeliveryTarget
	owners  []int
	users   []*mailstore.User
	effects []*sieveEffect
}

// sieveEffect is what one recipient's script sends elsewhere.
type sieveEffect struct {
	r        recipient
	redirect []string // addresses elsewhere (local ones are store targets)
	// reserved is when the redirects were counted in the sending rate.
	reserved  time.Time
	reject    string // the reason of a reject to send as a message; "" for none
	rejecting bool
	vacations []*sieve.VacationReply
}

// sieveEnv is the world a script sees: the user's mailboxes, the vacation
// replies sent, the clock.
type sieveEnv struct {
	store  *mailstore.Store
	userID int64
}

func (e sieveEnv) MailboxExists(ctx context.Context, name string) (bool, error) {
	_, err := e.store.GetMailbox(ctx, e.userID, name)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, core.ErrNotFound), errors.Is(err, core.ErrInvalid):
		return false, nil
	}
	return false, err
}

func (e sieveEnv) VacationSeen(ctx context.Context, handle, sender string, period time.Duration) (bool, error) {
	return e.store.VacationReplied(ctx, e.userID, handle, sender, period, time.Now())
}

func (e sieveEnv) Now() time.Time { return time.Now() }

// copyOf returns the message as recipient r's copy will be stored (its
// delivery fields, then the shared prefix and the message) and its size.
type copyOf func(r recipient) (io.Reader, int64)

// sieveDeliveries runs the scripts of every local recipient and returns
// the plan: the store targets and the effects to carry out once they are
// stored. mailbox is where a kept message goes ("" INBOX, `\Junk` for
// junk). A non-nil reply refuses the message at SMTP time: a script of
// the only recipient rejected it.
func (s *session) sieveDeliveries(tx *transaction, message copyOf, mailbox string, out *outcome) (*sievePlan, *smtp.SMTPError) {
	plan := &sievePlan{}
	junk := mailbox == `\Junk`
	store := s.srv.opts.Store
	for i, r := range tx.users {
		keep := mailstore.DeliveryTarget{UserID: r.user.ID, Mailbox: mailbox, HeaderPrefix: targetFields(tx, r)}
		res, err := s.runSieve(tx, r, message, junk)
		if err != nil {
			s.log.Warn("sieve script failed; delivering as without a script", "queue_id", out.id, "rcpt", r.addr, "err", err)
		}
		if res == nil {
			plan.add(i, r.user, keep)
			continue
		}
		for _, n := range res.Notes {
			s.log.Info("sieve", "queue_id", out.id, "rcpt", r.addr, "note", n)
		}
		eff := &sieveEffect{r: r}
		stored := false
		var redirects []string
		for _, a := range res.Actions {
			switch a.Kind {
			case sieve.ActionKeep:
				t := keep
				t.Flags = a.Flags
				plan.add(i, r.user, t)
				stored = true
			case sieve.ActionFileInto:
				t := keep
				t.Mailbox, t.Create, t.Flags = a.Mailbox, a.Create, a.Flags
				if !a.Create {
					if ok, _ := (sieveEnv{store, r.user.ID}).MailboxExists(s.ctx, a.Mailbox); !ok {
						s.log.Info("sieve fileinto a mailbox that does not exist; into INBOX", "queue_id", out.id, "rcpt", r.addr, "mailbox", a.Mailbox)
						t.Mailbox = ""
					}
				}
				plan.add(i, r.user, t)
				stored = true
			case sieve.ActionDiscard:
				s.log.Info("sieve discarded the message", "queue_id", out.id, "rcpt", r.addr)
			case sieve.ActionReject:
				if len(tx.users) == 1 && len(tx.remote) == 0 && !s.accepted {
					s.log.Info("sieve rejected the message", "queue_id", out.id, "rcpt", r.addr, "reason", a.Reason)
					out.verdict, out.reason = "reject", "sieve: "+a.Reason
					s.srv.stats.reject(RejectPolicy)
					return nil, smtpErr(550, smtp.EnhancedCode{5, 7, 1}, replyText(a.Reason, "Message rejected by the recipient's rules"))
				}
				eff.rejecting, eff.reject = true, a.Reason
			case sieve.ActionRedirect:
				redirects = append(redirects, a.Address)
			case sieve.ActionVacation:
				eff.vacations = append(eff.vacations, a.Vacation)
			}
		}
		if len(redirects) > 0 {
			ok := s.planRedirects(tx, i, eff, redirects, junk, plan, out)
			if !ok && !stored && !eff.rejecting {
				// The message must go somewhere: a redirect that cannot be
				// made becomes the keep it replaced.
				plan.add(i, r.user, keep)
			}
		}
		if eff.rejecting || len(eff.redirect) > 0 || len(eff.vacations) > 0 {
			plan.effects = append(plan.effects, eff)
		}
	}
	return plan, nil
}

func (p *sievePlan) add(owner int, u *mailstore.User, t mailstore.DeliveryTarget) {
	p.targets = append(p.targets, t)
	p.owners = append(p.owners, owner)
	p.users = append(p.users, u)
}

// runSieve runs the domain's and the user's scripts for recipient r. It
// returns nil without error when r has no script, and nil with the error
// when the scripts cannot be read or run: then the message goes where it
// would without a script.
func (s *session) runSieve(tx *transaction, r recipient, message copyOf, junk bool) (*sieve.Result, error) {
	ctx, cancel := context.WithTimeout(s.ctx, sieveRunTimeout)
	defer cancel()
	store := s.srv.opts.Store
	var scripts []*sieve.Script
	dom, err := store.DomainSieveScript(ctx, r.user.Address[strings.LastIndexByte(r.user.Address, '@')+1:])
	if err != nil {
		return nil, fmt.Errorf("read the domain's script: %w", err)
	}
	own, err := store.ActiveSieveScript(ctx, r.user.ID)
	if err != nil {
		return nil, fmt.Errorf("read the user's script: %w", err)
	}
	for _, src := range []*mailstore.SieveScript{dom, own} {
		if src == nil {
			continue
		}
		sc, err := s.srv.sieve.compile(src.Content)
		if err != nil {
			return nil, fmt.Errorf("script %q: %w", src.Name, err)
		}
		scripts = append(scripts, sc)
	}
	if len(scripts) == 0 {
		return nil, nil
	}
	whole, size := message(r)
	header, body, err := splitHeader(whole)
	if err != nil {
		return nil, fmt.Errorf("read the message: %w", err)
	}
	addrs := []string{r.user.Address}
	for _, a := range []string{r.deliveredTo(), r.addr} {
		if !strings.EqualFold(a, addrs[0]) {
			addrs = append(addrs, a)
		}
	}
	msg := &sieve.Message{Header: header, Body: body, Size: size, EnvelopeFrom: tx.from, EnvelopeTo: r.addr, Junk: junk}
	return sieve.RunAll(ctx, scripts, msg, sieveEnv{store, r.user.ID}, sieve.RunOptions{
		UserAddresses:       addrs,
		SubaddressDelimiter: s.srv.opts.SubaddressDelimiters,
		Hostname:            s.srv.opts.Hostname,
	})
}

// splitHeader reads the header block of a message (up to the blank line,
// at most twice maxHeaderBytes, room for the fields Yubin adds) and
// returns it and a reader of the rest.
func splitHeader(r io.Reader) ([]byte, io.Reader, error) {
	br := bufio.NewReader(r)
	var header []byte
	for len(header) < 2*maxHeaderBytes {
		line, err := br.ReadSlice('\n')
		header = append(header, line...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF {
			return header, strings.NewReader(""), nil
		}
		if err != nil {
			return nil, nil, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
	}
	return header, br, nil
}

// planRedirects turns a script's redirects into store targets (local
// addresses) and addresses for the queue, within the rules: none for junk,
// and all within the user's sending rate. It reports whether they were
// made.
func (s *session) planRedirects(tx *transaction, owner int, eff *sieveEffect, addrs []string, junk bool, plan *sievePlan, out *outcome) bool {
	r := eff.r
	if junk {
		s.log.Info("sieve redirect of a message the filters judged junk: not made", "queue_id", out.id, "rcpt", r.addr, "to", addrs)
		return false
	}
	if rate := s.srv.opts.SendRate; rate != nil {
		at, ok := rate.r.reserve(r.user.ID, len(addrs))
		if !ok {
			s.log.Warn("sieve redirect beyond the user's sending rate: not made", "queue_id", out.id, "rcpt", r.addr, "to", addrs)
			return false
		}
		eff.reserved = at
	}
	ctx, cancel := context.WithTimeout(s.ctx, lookupTimeout)
	defer cancel()
	var local []mailstore.DeliveryTarget
	var localUsers []*mailstore.User
	var external []string
	for _, a := range addrs {
		pa, err := core.ParseAddress(a)
		if err != nil {
			s.log.Info("sieve redirect to an invalid address: not made", "queue_id", out.id, "rcpt", r.addr, "to", a)
			continue
		}
		isLocal, err := s.srv.opts.Store.IsLocalDomain(ctx, pa.Domain)
		if err != nil {
			s.log.Warn("sieve redirect: lookup failed; not made", "queue_id", out.id, "rcpt", r.addr, "to", a, "err", err)
			s.releaseRedirects(eff, len(addrs))
			return false
		}
		if !isLocal {
			external = append(external, a)
			continue
		}
		rs, err := s.srv.resolve(ctx, pa.String())
		if err != nil {
			s.log.Info("sieve redirect to a local address that leads nowhere: not made", "queue_id", out.id, "rcpt", r.addr, "to", a, "err", err)
			continue
		}
		for _, x := range rs {
			switch {
			case x.User != nil:
				// A redirected copy goes to the INBOX of the local
				// target as it is, without the target's own script, so
				// that two users' redirects cannot loop.
				fields := "Return-Path: <" + tx.from + ">\r\nDelivered-To: " + x.DeliveredTo() + "\r\n"
				local = append(local, mailstore.DeliveryTarget{UserID: x.User.ID, HeaderPrefix: fields})
				localUsers = append(localUsers, x.User)
			case x.External != "":
				external = append(external, x.External)
			}
		}
	}
	if len(local) == 0 && len(external) == 0 {
		s.releaseRedirects(eff, len(addrs))
		return false
	}
	for i, t := range local {
		plan.add(owner, localUsers[i], t)
	}
	eff.redirect = external
	s.log.Info("sieve redirect", "queue_id", out.id, "rcpt", r.addr, "local", len(local), "external", external)
	return true
}

// releaseRedirects gives back the redirects reserved in the sending rate.
func (s *session) releaseRedirects(eff *sieveEffect, n int) {
	if rate := s.srv.opts.SendRate; rate != nil && !eff.reserved.IsZero() {
		rate.r.release(eff.r.user.ID, n, eff.reserved)
		eff.reserved = time.Time{}
	}
}

// storePlan stores the copies of a plan in one all-or-nothing delivery
// with the quotas enforced. An empty plan (every script discarded or
// rejected the message) stores nothing.
func (s *session) storePlan(plan *sievePlan, body io.Reader, out *outcome) ([]mailstore.DeliveryResult, *smtp.SMTPError) {
	if len(plan.targets) == 0 {
		return nil, nil
	}
	// Once queued, the store finishes the write even if ctx ends; a
	// session's context only ends when the server stops.
	results, err := s.srv.opts.Store.Deliver(s.ctx, mailstore.Delivery{
		Targets:      plan.targets,
		Body:         body,
		InternalDate: time.Now(),
		EnforceQuota: true,
		// Every recipient or none: the reply is one for all (quota.go).
		AllOrNothing: true,
	})
	if err != nil {
		s.log.Error("store message", "queue_id", out.id, "err", err)
		s.srv.stats.tempFailed.Add(1)
		out.verdict, out.reason = "tempfail", "store: "+err.Error()
		return nil, smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Local error in processing, please try again later")
	}
	return results, nil
}

// sieveEffects carries out what the scripts send on, once the copies are
// stored: redirects and rejection messages (which stand for the message:
// if one cannot be queued the stored copies are removed again and the
// sender is asked to retry), then vacation replies (which are not: a
// failure is only logged).
func (s *session) sieveEffects(tx *transaction, plan *sievePlan, message func() io.Reader, copies []mailstore.DeliveryResult, out *outcome) *smtp.SMTPError {
	fail := func(what string, err error) *smtp.SMTPError {
		s.log.Error("sieve: "+what+" failed; the message is refused for now", "queue_id", out.id, "err", err)
		s.removeCopies(copies, out)
		s.srv.stats.tempFailed.Add(1)
		out.verdict, out.reason = "tempfail", "sieve "+what+": "+err.Error()
		return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Local error in processing, please try again later")
	}
	for _, eff := range plan.effects {
		if len(eff.redirect) > 0 {
			if err := s.queueRedirect(tx, eff, message, out); err != nil {
				s.releaseRedirects(eff, len(eff.redirect))
				return fail("redirect", err)
			}
		}
		if eff.rejecting {
			if err := s.sendRejection(tx, eff, message(), out); err != nil {
				return fail("reject", err)
			}
		}
	}
	for _, eff := range plan.effects {
		for _, v := range eff.vacations {
			s.sendVacation(eff, v, out)
		}
	}
	return nil
}

// queueRedirect queues the message for a recipient's redirect targets
// elsewhere, as a forward of the recipient's domain (forward.go): as it
// came in, with fields on top, signed and sealed (ARC). The envelope
// sender is the original one rewritten with SRS, so that bounces go back
// to whoever sent it; without SRS it is the recipient (as Dovecot's
// sieve_redirect_envelope_from=recipient): the original sender's SPF
// would fail from Yubin.
func (s *session) queueRedirect(tx *transaction, eff *sieveEffect, msg func() io.Reader, out *outcome) error {
	user := eff.r.user.Address
	domain := user[strings.LastIndexByte(user, '@')+1:]
	if out.forwardable == nil {
		out.forwardable = msg // submission: the message as stored
	}
	var err error
	if s.srv.opts.SRS != nil {
		err = s.forward(tx, domain, eff.redirect, out)
	} else {
		err = s.forwardFrom(user, domain, eff.redirect, out)
	}
	if err != nil {
		return err
	}
	s.log.Info("sieve redirect queued", "queue_id", out.id, "rcpt", eff.r.addr, "to", eff.redirect)
	return nil
}

// signGenerated puts the DKIM signatures of domain on top of msg, if the
// server signs and the domain has keys; on failure msg goes unsigned.
func (s *session) signGenerated(domain string, msg []byte, out *outcome) []byte {
	src := s.srv.opts.DKIM
	if src == nil {
		return msg
	}
	sigs, err := SignDKIM(s.ctx, src, domain, bytes.NewReader(msg))
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		s.log.Warn("DKIM signing of a Sieve message failed", "queue_id", out.id, "domain", domain, "err", err)
	}
	return append([]byte(sigs), msg...)
}

// sendRejection sends the rejection message of RFC 5429 section 2.1.1 (an
// MDN with the disposition "deleted") to the envelope sender, from the
// null sender. Mail from the null sender gets none.
func (s *session) sendRejection(tx *transaction, eff *sieveEffect, msg io.Reader, out *outcome) error {
	if tx.from == "" {
		s.log.Info("sieve reject of a message from the null sender: no rejection message", "queue_id", out.id, "rcpt", eff.r.addr)
		return nil
	}
	header, _, err := splitHeader(msg)
	if err != nil {
		return fmt.Errorf("read the message: %w", err)
	}
	user := eff.r.user.Address
	domain := user[strings.LastIndexByte(user, '@')+1:]
	rej := buildRejection(s.srv.opts.Hostname, domain, tx.from, eff.r.deliveredTo(), eff.reject, header, time.Now())
	if err := s.sendGenerated(tx.from, domain, rej, out); err != nil {
		return err
	}
	s.log.Info("sieve rejection message sent", "queue_id", out.id, "rcpt", eff.r.addr, "to", tx.from)
	return nil
}

// sendVacation sends a vacation reply and records it for the
// once-per-period rule; a failure is logged.
func (s *session) sendVacation(eff *sieveEffect, v *sieve.VacationReply, out *outcome) {
	domain := eff.r.user.Address[strings.LastIndexByte(eff.r.user.Address, '@')+1:]
	if a, err := core.ParseAddress(addressOf(v.From)); err == nil {
		domain = a.Domain
	}
	if err := s.sendGenerated(v.To, domain, v.Message, out); err != nil {
		s.log.Error("sieve vacation reply failed", "queue_id", out.id, "rcpt", eff.r.addr, "to", v.To, "err", err)
		return
	}
	if err := s.srv.opts.Store.RecordVacationReply(s.ctx, eff.r.user.ID, v.Handle, v.To, time.Now()); err != nil {
		s.log.Error("recording a vacation reply failed; the sender may get another", "queue_id", out.id, "rcpt", eff.r.addr, "to", v.To, "err", err)
	}
	s.log.Info("sieve vacation reply sent", "queue_id", out.id, "rcpt", eff.r.addr, "to", v.To)
}

// addressOf returns the address of "Name <addr>" or of a bare address.
func addressOf(s string) string {
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		s = s[i+1:]
		if j := strings.IndexByte(s, '>'); j >= 0 {
			s = s[:j]
		}
	}
	return strings.TrimSpace(s)
}

// sendGenerated sends a message Yubin writes (a vacation reply, a
// rejection) from the null sender to addr: into the INBOX of the local
// accounts addr leads to, through the queue, signed with domain's keys,
// to an address elsewhere.
func (s *session) sendGenerated(addr, domain string, msg []byte, out *outcome) error {
	ctx, cancel := context.WithTimeout(s.ctx, lookupTimeout)
	defer cancel()
	a, err := core.ParseAddress(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	var external []string
	var targets []mailstore.DeliveryTarget
	local, err := s.srv.opts.Store.IsLocalDomain(ctx, a.Domain)
	if err != nil {
		return err
	}
	if local {
		rs, err := s.srv.resolve(ctx, a.String())
		if errors.Is(err, core.ErrNotFound) {
			s.log.Info("a Sieve message to a local address that leads nowhere: dropped", "queue_id", out.id, "to", addr)
			return nil
		}
		if err != nil {
			return err
		}
		for _, x := range rs {
			switch {
			case x.User != nil:
				targets = append(targets, mailstore.DeliveryTarget{UserID: x.User.ID, HeaderPrefix: "Return-Path: <>\r\nDelivered-To: " + x.DeliveredTo() + "\r\n"})
			case x.External != "":
				external = append(external, x.External)
			}
		}
	} else {
		external = []string{addr}
	}
	if len(targets) > 0 {
		res, err := s.srv.opts.Store.Deliver(s.ctx, mailstore.Delivery{Targets: targets, Body: bytes.NewReader(msg)})
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Err != nil {
				s.log.Warn("a Sieve message was not stored for one local target", "queue_id", out.id, "to", addr, "err", r.Err)
			}
		}
	}
	if len(external) > 0 {
		signed := s.signGenerated(domain, msg, out)
		if _, err := s.srv.enqueue(s.ctx, queue.Input{Body: bytes.NewReader(signed), Recipients: external, Domain: domain}); err != nil {
			return err
		}
	}
	return nil
}

// enqueue hands a message to the outbound queue.
func (s *Server) enqueue(ctx context.Context, in queue.Input) (*queue.Message, error) {
	if s.opts.Enqueue == nil {
		return nil, errNoQueue
	}
	return s.opts.Enqueue(ctx, in)
}

// errNoQueue is the error for mail to remote recipients on a server
// without an outbound queue (Options.Enqueue).
var errNoQueue = errors.New("no outbound queue")

// buildRejection writes the rejection message of RFC 5429 section 2.1.1:
// a multipart/report MDN whose disposition is "deleted", with the reason
// and the rejected message's header.
func buildRejection(hostname, domain, to, recipient, reason string, header []byte, now time.Time) []byte {
	boundary := "rej-" + strings.ToLower(rand.Text())
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", domain)
	fmt.Fprintf(&b, "To: <%s>\r\n", to)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", "Message rejected: "+oneLine(recipient)))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", rand.Text(), hostname)
	b.WriteString("Auto-Submitted: auto-replied (rejected)\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=disposition-notification;\r\n\tboundary=\"%s\"\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Your message to <%s> was rejected by the recipient's mail rules:\r\n\r\n", recipient)
	for _, l := range strings.Split(strings.ReplaceAll(reason, "\r\n", "\n"), "\n") {
		b.WriteString(l + "\r\n")
	}
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/disposition-notification\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Reporting-UA: %s; Yubin Sieve\r\n", hostname)
	fmt.Fprintf(&b, "Final-Recipient: rfc822; %s\r\n", recipient)
	if h := parseFields(header); h.Get("Message-Id") != "" {
		fmt.Fprintf(&b, "Original-Message-ID: %s\r\n", oneLine(h.Get("Message-Id")))
	}
	b.WriteString("Disposition: automatic-action/MDN-sent-automatically; deleted\r\n")
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
	h := bytes.ReplaceAll(bytes.ReplaceAll(header, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	b.Write(bytes.TrimRight(h, "\r\n"))
	fmt.Fprintf(&b, "\r\n\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

// oneLine removes line breaks from s.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}
