// Package authn authenticates inbound mail: SPF (RFC 7208), DKIM (RFC 6376,
// rsa-sha256 and ed25519-sha256 per RFC 8463) and DMARC (RFC 7489), with one
// Authentication-Results field (RFC 8601) recording the results.
//
// Authenticator is the filter to put in the chain. It is an EnvelopeFilter:
// at MAIL FROM it checks SPF and, only if Options.RejectSPFFail is set,
// refuses a sender whose SPF result is "fail" with 550 5.7.23. By default an
// SPF failure decides nothing on its own: DMARC does. Check then takes the
// SPF outcome found at MAIL FROM for the same client address, HELO name
// and sender (kept for a minute; temporary errors are not kept, and SPF
// is checked again without one), verifies every DKIM signature (at most
// Options.MaxDKIMSignatures) and the DMARC policy of each From domain, and
// returns:
//
//   - an Authentication-Results field "<hostname>; spf=...; dkim=...;
//     dmarc=...", one dkim result per signature;
//   - RemoveHeaders "Authentication-Results": the filter chain can only
//     remove header fields by name, so every incoming
//     Authentication-Results field is removed, not only those claiming to
//     come from our host name. RFC 8601 section 5 requires removing the
//     latter and permits removing the others, which downstream consumers
//     could not trust anyway;
//   - the action of the DMARC policy for a message failing DMARC: p=reject
//     refuses it (550 5.7.1), p=quarantine files it as Junk, p=none
//     accepts it (unless Message.Policy.NoDMARCEnforce: then the results
//     are only recorded). sp= applies when the record found is the
//     organizational domain's, and pct= is honoured by drawing each
//     message at random (nothing the sender chooses decides it). Records
//     are read as published (RFC 7489 section 6.3: tag names and policy
//     values in any case, unknown tags and unknown values of other tags
//     ignored); a domain publishing two records has no DMARC policy
//     (section 6.6.3). A missing or invalid record, or a temporary DNS
//     failure, never refuses a message;
//   - Evidence per check (Filter "spf", "dkim" and "dmarc").
//
// DMARC is evaluated for every distinct domain of the From field (an
// unparseable From is read as a reader would: the address in its last
// <...>), and the most severe disposition applies. A message without an
// author domain gets dmarc=permerror; one with more than 10 author domains
// is not looked up (dmarc=permerror) and filed as Junk. A message without
// exactly one From field never gets dmarc=pass (RFC 7489 section 6.6.1):
// none gives dmarc=permerror, several give dmarc=permerror and a refusal
// (550 5.7.1) unless Message.Policy.NoDMARCEnforce.
//
// Messages from authenticated clients (ConnInfo.AuthUser) are not checked:
// they get "auth=pass" and no other result.
//
// SPF is also available as a filter of its own (NewSPF), for chains that
// want SPF without DKIM and DMARC.
package authn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/filters/dnsresolve"
)

// DefaultMaxDKIMSignatures is how many DKIM signatures of a message are
// verified by default.
const DefaultMaxDKIMSignatures = 5

// dkimReadBuffer is the size of the buffer the message is read through
// for DKIM verification: that of bufio.NewReader, which the dkim package
// would use otherwise, so that it reads the same way.
const dkimReadBuffer = 4096

// HeaderName is the name of the header field the Authenticator adds.
const HeaderName = "Authentication-Results"

// Options configure the filters of this package.
type Options struct {
	// Hostname is the authserv-id of our Authentication-Results fields.
	// "" uses the host name of the connection (ConnInfo.Hostname).
	Hostname string
	// Resolver does the DNS lookups. nil uses a resolver with the system's
	// configuration.
	Resolver *dnsresolve.Resolver
	// RejectSPFFail refuses senders whose SPF result is "fail" at MAIL
	// FROM (and in Check). By default they are only recorded, and DMARC
	// decides.
	RejectSPFFail bool
	// MaxDKIMSignatures bounds the DKIM signatures verified per message;
	// later ones are ignored. 0 means DefaultMaxDKIMSignatures.
	MaxDKIMSignatures int
	// Logger receives debug logs. nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Resolver == nil {
		o.Resolver = dnsresolve.New(dnsresolve.Options{Logger: o.Logger})
	}
	if o.MaxDKIMSignatures <= 0 {
		o.MaxDKIMSignatures = DefaultMaxDKIMSignatures
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Authenticator is the filter checking SPF, DKIM and DMARC. It is safe for
// concurrent use.
type Authenticator struct {
	opts Options
	// spf checks SPF at MAIL FROM and remembers the outcome for Check.
	spf *SPF
	// readers are the *bufio.Readers the DKIM verification reads the
	// message through.
	readers sync.Pool
}

// New returns an Authenticator.
func New(opts Options) *Authenticator {
	opts = opts.withDefaults()
	a := &Authenticator{opts: opts, spf: newSPF(opts)}
	a.readers.New = func() any { return bufio.NewReaderSize(nil, dkimReadBuffer) }
	return a
}

// Name returns "authn".
func (*Authenticator) Name() string { return "authn" }

// CheckSender checks the SPF policy of the sender at MAIL FROM. It refuses
// the sender only on an SPF "fail" with Options.RejectSPFFail set.
func (a *Authenticator) CheckSender(ctx context.Context, conn filters.ConnInfo, from string) (filters.Verdict, error) {
	return a.spf.CheckSender(ctx, conn, from)
}

// Check authenticates msg. See the package documentation.
func (a *Authenticator) Check(ctx context.Context, msg *filters.Message) (filters.Verdict, error) {
	hostname := a.opts.Hostname
	if hostname == "" {
		hostname = msg.Conn.Hostname
	}
	if hostname == "" {
		hostname = "localhost"
	}
	v := filters.Verdict{RemoveHeaders: []string{HeaderName}}

	if user := msg.Conn.AuthUser; user != "" {
		v.AddHeaders = []filters.HeaderField{{Key: HeaderName, Value: formatAuthResults(hostname, []authres.Result{
			&authres.AuthResult{Value: authres.ResultPass, Auth: user},
		})}}
		return v, nil
	}

	// SPF was most likely checked at MAIL FROM already (CheckSender): the
	// outcome is reused if so. Else SPF and DKIM are independent: run them
	// side by side.
	spfRes, spfKnown := a.spf.memo.get(spfKeyOf(msg.Conn, msg.Envelope.MailFrom))
	var spfDone chan spfOutcome
	if !spfKnown {
		spfDone = make(chan spfOutcome, 1)
		go a.checkSPFAsync(ctx, msg, spfDone)
	}
	dkims := a.verifyDKIM(ctx, msg)
	if !spfKnown {
		spfRes = <-spfDone
	}

	// Room for spf, the dkim results and a few dmarc ones.
	results := make([]authres.Result, 0, 4+len(dkims))
	v.Evidence = make([]filters.Evidence, 0, 4+len(dkims))
	results = append(results, spfRes.authResult())
	v.Evidence = append(v.Evidence, spfRes.evidence())
	if len(dkims) == 0 {
		results = append(results, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range dkims {
		results = append(results, d.authResult())
		v.Evidence = append(v.Evidence, d.evidence())
	}

	var worst *dmarcOutcome
	domains, err := fromDomains(msg)
	if err != nil {
		results = append(results, &authres.DMARCResult{Value: dmarcPermError, Reason: err.Error()})
		v.Evidence = append(v.Evidence, filters.Evidence{Filter: "dmarc", Result: dmarcPermError, Detail: err.Error()})
		switch {
		case errors.Is(err, errTooManyFromDomains):
			// Not checked, to bound the lookups, but not let through
			// as if nothing was wrong either.
			v.Action, v.Reason = filters.Junk, err.Error()
		case errors.Is(err, errMultipleFrom) && !msg.Policy.NoDMARCEnforce:
			// No DMARC pass is possible, and which From a reader sees
			// is anyone's guess: refused, whatever the domains' policy.
			v.Action, v.Code, v.EnhancedCode = filters.Reject, 550, [3]int{5, 7, 1}
			v.Reason = "More than one From field: the author cannot be authenticated (RFC 5322 section 3.6, RFC 7489 section 6.6.1)"
		}
	}
	for _, d := range domains {
		o := a.evaluateDMARC(ctx, d, spfRes, dkims)
		results = append(results, o.authResult())
		v.Evidence = append(v.Evidence, o.evidence())
		if worst == nil || severity(o.disposition) > severity(worst.disposition) {
			worst = &o
		}
	}
	if err := ctx.Err(); err != nil {
		// Lookups were cut short: the results are not to be trusted.
		return filters.Verdict{}, context.Cause(ctx)
	}

	switch {
	case spfRes.result == spf.Fail && a.opts.RejectSPFFail:
		r := spfRes.rejectVerdict()
		v.Action, v.Code, v.EnhancedCode, v.Reason = r.Action, r.Code, r.EnhancedCode, r.Reason
	case worst != nil && worst.disposition != dmarc.PolicyNone && msg.Policy.NoDMARCEnforce:
		// The recipients' domains only want the results recorded.
		v.Evidence = append(v.Evidence, filters.Evidence{Filter: "dmarc", Result: "not-enforced",
			Detail: "DMARC policy of " + worst.domain + " (" + string(worst.disposition) + ") not enforced by domain policy"})
	case worst != nil && worst.disposition == dmarc.PolicyReject:
		v.Action, v.Code, v.EnhancedCode = filters.Reject, 550, [3]int{5, 7, 1}
		v.Reason = "Unauthenticated email from " + worst.domain + " is not accepted due to the domain's DMARC policy"
	case worst != nil && worst.disposition == dmarc.PolicyQuarantine:
		v.Action = filters.Junk
		v.Reason = "DMARC policy of " + worst.domain + ": quarantine"
	}
	v.AddHeaders = []filters.HeaderField{{Key: HeaderName, Value: formatAuthResults(hostname, results)}}
	return v, nil
}

// formatResults formats the value of an Authentication-Results field.
// authres.Format leaves a blank before the ";" after a result without
// properties ("dkim=none ;"); RFC 8601's examples, and readers, expect
// none.
// checkSPFAsync checks SPF for msg and sends the outcome to done. It runs
// on a goroutine of its own, so it recovers from panics.
func (a *Authenticator) checkSPFAsync(ctx context.Context, msg *filters.Message, done chan<- spfOutcome) {
	res := spfOutcome{result: spf.TempError}
	defer func() {
		// Not the chain's goroutine: a panic here would bring the
		// server down.
		if r := recover(); r != nil {
			a.opts.Logger.Error("spf check panicked", "panic", r)
			res.err = fmt.Errorf("panic: %v", r)
		}
		done <- res
	}()
	res = checkSPF(ctx, a.opts.Resolver, msg.Conn, msg.Envelope.MailFrom)
}
