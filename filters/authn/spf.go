package authn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/filters/dnsresolve"
)

// spfOutcome is the result of an SPF check (RFC 7208).
type spfOutcome struct {
	result spf.Result
	// identity is "mailfrom", or "helo" for the null sender.
	identity string
	// from is the MAIL FROM address ("" for the null sender), helo the
	// HELO name.
	from, helo string
	// domain is the domain whose policy was checked: the MAIL FROM
	// domain, or the HELO name for the null sender. It is the domain that
	// DMARC aligns with the From domain.
	domain string
	ip     net.IP
	err    error
}

// checkSPF runs the SPF check of the client conn sending from the reverse
// path from ("" for the null sender, which is checked as postmaster@HELO,
// RFC 7208 section 2.4).
func checkSPF(ctx context.Context, r *dnsresolve.Resolver, conn filters.ConnInfo, from string) spfOutcome {
	o := spfOutcome{identity: "mailfrom", from: from, helo: conn.HELO}
	sender := from
	if _, d, ok := strings.Cut(from, "@"); ok && d != "" {
		o.domain = d
	} else {
		// Null sender, or a reverse path without a domain: the HELO
		// identity stands in (RFC 7208 section 2.4).
		o.identity = "helo"
		o.domain = conn.HELO
		sender = "postmaster@" + conn.HELO
	}
	o.domain = strings.ToLower(strings.TrimSuffix(o.domain, "."))
	if !conn.RemoteAddr.IsValid() {
		o.result, o.err = spf.None, errors.New("no client address")
		return o
	}
	o.ip = net.IP(conn.RemoteAddr.Addr().Unmap().AsSlice())
	if !isDomainName(o.domain) {
		// An address literal or a name without a dot cannot hold a
		// policy (RFC 7208 section 4.3).
		o.result, o.err = spf.None, fmt.Errorf("%q is not a domain name", o.domain)
		return o
	}
	o.result, o.err = spf.CheckHostWithSender(o.ip, conn.HELO, sender,
		spf.WithResolver(r), spf.WithContext(ctx))
	return o
}

// isDomainName reports whether s looks like a fully qualified domain name.
func isDomainName(s string) bool {
	if s == "" || len(s) > 253 || !strings.Contains(s, ".") || strings.HasPrefix(s, "[") {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

// evidence returns the outcome as Evidence.
func (o spfOutcome) evidence() filters.Evidence {
	detail := o.identity + " " + o.domain + ": client " + o.ip.String()
	if o.err != nil && o.result != spf.Pass {
		detail += ": " + o.err.Error()
	}
	return filters.Evidence{Filter: "spf", Result: string(o.result), Detail: detail}
}

// authResult returns the outcome for Authentication-Results.
func (o spfOutcome) authResult() authres.Result {
	r := &authres.SPFResult{Value: authres.ResultValue(o.result)}
	if o.identity == "helo" {
		r.Helo = o.domain
	} else {
		r.From = o.from
	}
	return r
}

// rejectVerdict is the verdict refusing a message whose SPF check failed.
func (o spfOutcome) rejectVerdict() filters.Verdict {
	return filters.Verdict{
		Action:       filters.Reject,
		Code:         550,
		EnhancedCode: [3]int{5, 7, 23},
		Reason:       fmt.Sprintf("SPF validation failed: %v is not allowed to send mail for %s", o.ip, o.domain),
	}
}

// SPF is a filter checking the sender's SPF policy (RFC 7208) on its own,
// for chains that do not run an Authenticator. It is an EnvelopeFilter:
// at MAIL FROM it refuses a sender whose SPF result is "fail" when
// RejectSPFFail is set; Check does the same on the whole message and
// returns the SPF result as Evidence. It adds no header field. Check
// reuses the outcome of CheckSender for the same client address, HELO
// name and sender for a minute (temporary errors are checked again).
type SPF struct {
	opts Options
	// memo keeps the outcomes of CheckSender for Check.
	memo *spfMemo
}

// NewSPF returns an SPF filter.
func NewSPF(opts Options) *SPF {
	return newSPF(opts.withDefaults())
}

// newSPF returns an SPF filter with opts, which have their defaults set.
func newSPF(opts Options) *SPF {
	return &SPF{opts: opts, memo: newSPFMemo(time.Now)}
}

// Name returns "spf".
func (*SPF) Name() string { return "spf" }

// CheckSender checks the SPF policy of the sender domain of from (or of
// the HELO name for the null sender). The outcome is remembered for a
// while, for Check of the message that follows.
func (f *SPF) CheckSender(ctx context.Context, conn filters.ConnInfo, from string) (filters.Verdict, error) {
	if conn.AuthUser != "" {
		return filters.Verdict{}, nil
	}
	o := checkSPF(ctx, f.opts.Resolver, conn, from)
	if err := ctx.Err(); err != nil {
		return filters.Verdict{}, context.Cause(ctx)
	}
	f.memo.put(spfKeyOf(conn, from), o)
	return f.verdict(o), nil
}

// Check checks the SPF policy of the envelope sender of msg, or reuses
// the outcome of CheckSender for the same client, HELO name and sender.
func (f *SPF) Check(ctx context.Context, msg *filters.Message) (filters.Verdict, error) {
	if msg.Conn.AuthUser != "" {
		return filters.Verdict{}, nil
	}
	o, err := f.check(ctx, msg.Conn, msg.Envelope.MailFrom)
	if err != nil {
		return filters.Verdict{}, err
	}
	return f.verdict(o), nil
}

// check returns the SPF outcome of conn sending from from: the one
// CheckSender found, if it is still fresh, else a new one. The error is
// the cause of ctx when it is done.
func (f *SPF) check(ctx context.Context, conn filters.ConnInfo, from string) (spfOutcome, error) {
	o, ok := f.memo.get(spfKeyOf(conn, from))
	if !ok {
		o = checkSPF(ctx, f.opts.Resolver, conn, from)
	}
	if err := ctx.Err(); err != nil {
		return o, context.Cause(ctx)
	}
	return o, nil
}

// verdict returns the verdict on the outcome o.
func (f *SPF) verdict(o spfOutcome) filters.Verdict {
	var v filters.Verdict
	if o.result == spf.Fail && f.opts.RejectSPFFail {
		v = o.rejectVerdict()
	}
	v.Evidence = []filters.Evidence{o.evidence()}
	return v
}
