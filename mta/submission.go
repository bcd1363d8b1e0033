package mta

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/urlresolve"
	"github.com/yubinmail/yubin/mta/queue"
	"github.com/yubinmail/yubin/smtpserver"
)

// DefaultRatePerHour is how many recipients one user may send to per
// hour when SubmissionOptions.RatePerHour is 0.
const DefaultRatePerHour = 500

// errRateExceeded is the reply once a user's sending rate is used up.
var errRateExceeded = smtpErr(450, smtp.EnhancedCode{4, 7, 1}, "Sending rate exceeded, please try again later")

// EnqueueFunc hands a message for remote recipients to the outbound queue
// (queue.Queue.Enqueue). When it returns without error the message is
// durable in the queue.
type EnqueueFunc func(ctx context.Context, in queue.Input) (*queue.Message, error)

// DKIMSource gives the keys to sign a domain's outgoing mail with: one
// signer per selector (selectors[i] goes with signers[i]). None, without
// error, means the domain's mail is not signed.
type DKIMSource interface {
	Signers(ctx context.Context, domain string) (signers []crypto.Signer, selectors []string, err error)
}

// SubmissionOptions configures a submission server (NewSubmissionServer).
type SubmissionOptions struct {
	// Store authenticates the users and delivers to local recipients. It
	// is required.
	Store *mailstore.Store
	// Filters checks the messages (the virus scanner matters most); nil
	// means filters.NewDefaultChain. The intake's chain can be shared: the
	// filters see ConnInfo.AuthUser set.
	Filters *filters.Chain
	// Hostname names this server in the banner, the Received field and
	// the Message-ID fields it adds; "" means the machine's host name.
	Hostname string
	// TLSConfig enables STARTTLS, and is the configuration of implicit-TLS
	// listeners (tls.NewListener) given to Serve.
	TLSConfig *tls.Config
	// Logger receives the logs; nil means slog.Default().
	Logger *slog.Logger
	// AuthLimiter, if set, slows down and blocks repeated failed logins.
	AuthLimiter AuthLimiter
	// ConnLimiter, if set, caps the concurrent connections in total and
	// per client: one beyond it is refused in the protocol and closed.
	ConnLimiter *limits.ConnLimiter
	// InsecureAuth reports whether a client at this address may log in
	// without TLS; nil means loopback addresses only.
	InsecureAuth func(net.Addr) bool
	// MaxMessageBytes is the SIZE limit; 0 means DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// MaxRecipients caps RCPTs per message; 0 means DefaultMaxRecipients.
	MaxRecipients int
	// ReadTimeout and WriteTimeout are as in Options.
	ReadTimeout, WriteTimeout time.Duration
	// SpoolDir holds temporary files for large messages; "" means
	// os.TempDir().
	SpoolDir string
	// SubaddressDelimiters are as in Options: they also let a user send
	// as ann+shop@ (their own address or an alias reaching them, with a
	// detail).
	SubaddressDelimiters string
	// RatePerHour caps the recipients one user may send to in any hour
	// (a message to 10 recipients counts 10); 0 means DefaultRatePerHour,
	// a negative value no limit.
	RatePerHour int
	// Enqueue hands messages for remote recipients to the outbound queue;
	// without it they are refused with a temporary error.
	Enqueue EnqueueFunc
	// DKIM gives the signing keys of the sender's domain; nil means no
	// DKIM signatures.
	DKIM DKIMSource
	// SendRate, if set, is the sending rate to count the users'
	// recipients in (shared with the intake's Sieve redirects); nil means
	// one of RatePerHour for this server alone.
	SendRate *SendRate
}

// submission is what a Server in ModeSubmission has beyond the intake's.
type submission struct {
	limiter      AuthLimiter // nil: none
	insecureAuth func(net.Addr) bool
	enqueue      EnqueueFunc
	dkim         DKIMSource // nil: no signing
	rate         *sendRate
	urls         *urlresolve.Resolver // BURL's IMAP URLs
}

// NewSubmissionServer returns a Server for message submission (RFC 6409)
// by authenticated users: the same sessions, delivery and life cycle
// (Serve, Shutdown, Close, Stats) as the intake, with these differences:
//
//   - It runs on Yubin's own SMTP engine (smtpserver), which also offers
//     BURL (RFC 4468) after AUTH: the content of an IMAP URL of this
//     server with URLAUTH for submit+ the user (RFC 4467) becomes (part
//     of) the message.
//   - AUTH PLAIN and AUTH LOGIN are offered after STARTTLS, on implicit
//     TLS, or where InsecureAuth allows; MAIL before AUTH gets 530 5.7.0.
//     Failed logins are answered 535 5.7.8, and 454 4.7.0 once the
//     AuthLimiter blocks the client or the account.
//   - The envelope sender and every From field address must be the user's
//     own address, an alias that delivers to the user, or an address the
//     user holds a send-as right for (mailstore.SendAsGrant), each also
//     with a subaddress detail (553 5.7.1); one
//     From field only (550 5.6.0). Each user may send to RatePerHour
//     recipients in any hour (450 4.7.1 beyond, at MAIL, RCPT or DATA).
//   - Any recipient is accepted; local ones must exist (550 5.1.1).
//   - The message gets a Date and a Message-ID if it has none, the
//     Received field ("with ESMTPSA"), goes through the filters, and is
//     DKIM-signed with the keys of the sender's domain. Local recipients
//     get it through the same delivery as intake's, remote ones (and the
//     external targets of local aliases) through one outbound queue entry;
//     the 250 comes once both are durable.
func NewSubmissionServer(o SubmissionOptions) *Server {
	s := NewServer(Options{
		Store:           o.Store,
		Filters:         o.Filters,
		Hostname:        o.Hostname,
		TLSConfig:       o.TLSConfig,
		Logger:          o.Logger,
		MaxMessageBytes: o.MaxMessageBytes,
		MaxRecipients:   o.MaxRecipients,
		ReadTimeout:     o.ReadTimeout,
		WriteTimeout:    o.WriteTimeout,
		SpoolDir:        o.SpoolDir,
		Mode:            ModeSubmission,
		Enqueue:         o.Enqueue,
		DKIM:            o.DKIM,
		SendRate:        o.SendRate,

		SubaddressDelimiters: o.SubaddressDelimiters,
	})
	sub := &submission{
		limiter:      o.AuthLimiter,
		insecureAuth: o.InsecureAuth,
		enqueue:      o.Enqueue,
		dkim:         o.DKIM,
	}
	if sub.insecureAuth == nil {
		sub.insecureAuth = isLoopback
	}
	if sub.enqueue == nil {
		sub.enqueue = s.enqueue // refuses: no queue
	}
	rate := o.RatePerHour
	if rate == 0 {
		rate = DefaultRatePerHour
	}
	sub.rate = newSendRate(rate, time.Hour)
	if o.SendRate != nil {
		sub.rate = o.SendRate.r
	} else {
		s.opts.SendRate = &SendRate{r: sub.rate}
	}
	if o.Store != nil {
		sub.urls = newURLResolver(o.Store)
	}
	s.sub = sub
	// The submission listeners run on Yubin's own engine, which offers
	// BURL (see submission_engine.go); the session decides, per client
	// address, whether AUTH is allowed without TLS (AuthMechanisms).
	s.engine = smtpserver.NewServer(engineBackend{s}, smtpserver.Options{
		Hostname:        s.opts.Hostname,
		TLSConfig:       s.opts.TLSConfig,
		Logger:          s.opts.Logger.With("mode", ModeSubmission.String()),
		MaxMessageBytes: s.opts.MaxMessageBytes,
		MaxRecipients:   s.opts.MaxRecipients,
		ReadTimeout:     s.opts.ReadTimeout,
		WriteTimeout:    s.opts.WriteTimeout,
		ConnLimiter:     o.ConnLimiter,
	})
	return s
}

// isLoopback is the default InsecureAuth: loopback clients only.
func isLoopback(a net.Addr) bool {
	return addrPort(a).Addr().IsLoopback()
}

// sendRate counts the recipients each user sent to in a sliding window.
// Room is reserved atomically (reserve) before a message is delivered and
// given back (release) if it is not, so that concurrent sessions of one
// user cannot all pass a check before any of them is counted. Memory is
// one timestamp per recipient within the window, per user.
type sendRate struct {
	limit  int // <= 0: unlimited
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	sent map[int64][]time.Time // by user ID, oldest first

	// store, if set, counts for every node on a shared database (see
	// NewSharedSendRate); sent then only counts when it fails.
	store SendRateStore
	log   *slog.Logger
}

func newSendRate(limit int, window time.Duration) *sendRate {
	return &sendRate{limit: limit, window: window, now: time.Now, sent: map[int64][]time.Time{}}
}

// prune drops user's timestamps that left the window; callers hold mu.
func (r *sendRate) prune(user int64, now time.Time) []time.Time {
	ts := r.sent[user]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= r.window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(r.sent, user)
		return nil
	}
	r.sent[user] = ts
	return ts
}

// remaining is how many recipients user may still send to now; -1 means
// no limit. It is only a forecast: reserve decides.
func (r *sendRate) remaining(user int64) int {
	if r.limit <= 0 {
		return -1
	}
	if left, ok := r.sharedRemaining(user); ok {
		return left
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return max(r.limit-len(r.prune(user, r.now())), 0)
}

// reserve counts n recipients for user now if they fit in the limit, and
// reports whether they did. The caller gives them back with release if
// the message is not sent after all.
func (r *sendRate) reserve(user int64, n int) (time.Time, bool) {
	if r.limit <= 0 {
		return time.Time{}, true
	}
	now := r.now()
	if fits, ok := r.sharedReserve(user, n, now); ok {
		return now, fits
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := r.prune(user, now)
	if len(ts)+n > r.limit {
		return time.Time{}, false
	}
	for range n {
		ts = append(ts, now)
	}
	r.sent[user] = ts
	return now, true
}

// release gives back n recipients reserved for user at the time at.
func (r *sendRate) release(user int64, n int, at time.Time) {
	if r.limit <= 0 {
		return
	}
	r.sharedRelease(user, n, at)
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := r.sent[user]
	for i := len(ts) - 1; i >= 0 && n > 0; i-- {
		if ts[i].Equal(at) {
			ts = slices.Delete(ts, i, i+1)
			n--
		}
	}
	if len(ts) == 0 {
		delete(r.sent, user)
		return
	}
	r.sent[user] = ts
}

// submissionMail checks MAIL FROM on a submission server: the client must
// have logged in, may only use its own addresses, and must be within its
// sending rate. nil means go on.
func (s *session) submissionMail(from string) *smtp.SMTPError {
	if s.user == nil {
		return smtpErr(530, smtp.EnhancedCode{5, 7, 0}, "Authentication required")
	}
	if from == "" {
		s.srv.stats.reject(RejectSender)
		s.log.Info("null sender refused on submission")
		return smtpErr(553, smtp.EnhancedCode{5, 7, 1}, "Sender address not allowed for this account")
	}
	ok, err := s.ownsAddress(from)
	if err != nil {
		s.log.Error("sender lookup failed", "from", from, "err", err)
		s.srv.stats.tempFailed.Add(1)
		return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary lookup failure, please try again later")
	}
	if !ok {
		s.srv.stats.reject(RejectSender)
		s.log.Info("sender address not owned by the user", "from", from)
		return smtpErr(553, smtp.EnhancedCode{5, 7, 1}, "Sender address not allowed for this account")
	}
	if s.srv.sub.rate.remaining(s.user.ID) == 0 {
		s.srv.stats.tempFailed.Add(1)
		s.log.Warn("sending rate exceeded")
		return errRateExceeded
	}
	return nil
}

// ownsAddress reports whether the logged-in user may send as addr: it is
// the user's own address, or an address (an alias, a catch-all, either
// with a subaddress detail: ann+shop@) whose mail reaches the user, or one
// the user was given the right to send as (hasSendAs).
func (s *session) ownsAddress(addr string) (bool, error) {
	a, err := core.ParseAddress(addr)
	if err != nil {
		return false, nil
	}
	if a.String() == s.user.Address {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, lookupTimeout)
	defer cancel()
	rs, err := s.srv.resolve(ctx, a.String())
	if errors.Is(err, core.ErrNotFound) {
		return s.hasSendAs(ctx, a)
	}
	if err != nil {
		return false, fmt.Errorf("resolve %s: %w", a, err)
	}
	for _, r := range rs {
		if r.User != nil && r.User.ID == s.user.ID {
			return true, nil
		}
	}
	return s.hasSendAs(ctx, a)
}

// hasSendAs reports whether the logged-in user holds the right to send as
// a (mailstore.SendAsGrant), given as it is or with a subaddress detail
// (info+shop@ for info@).
func (s *session) hasSendAs(ctx context.Context, a core.Address) (bool, error) {
	candidates := []string{a.String()}
	for _, sp := range core.SplitSubaddress(a.Local, s.srv.opts.SubaddressDelimiters) {
		if b, err := core.ParseAddress(sp.User + "@" + a.Domain); err == nil {
			candidates = append(candidates, b.String())
		}
	}
	ok, err := s.srv.opts.Store.MaySendAs(ctx, s.user.ID, candidates)
	if err != nil {
		return false, fmt.Errorf("send-as %s: %w", a, err)
	}
	return ok, nil
}

// authAllowed reports whether this session may log in: under TLS, or from
// an address the InsecureAuth policy accepts.
func (s *session) authAllowed() bool {
	if s.tls != nil {
		return true
	}
	return s.srv.sub.insecureAuth(s.st.conn.RemoteAddr())
}

// remoteIP is the client's address for the AuthLimiter.
func (s *session) remoteIP() netip.Addr { return s.info.RemoteAddr.Addr() }
