package authn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

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
	detail := fmt.Sprintf("%s %s: client %v", o.identity, o.domain, o.ip)
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
// returns the SPF result as Evidence. It adds no header field.
type SPF struct {
	opts Options
}

// NewSPF returns an SPF filter.
func NewSPF(opts Options) *SPF {
	return &SPF{opts: opts.withDefaults()}
}

// Name returns "spf".
func (*SPF) Name() string { return "spf" }

// CheckSender checks the SPF policy of the sender domain of from (or of
// the HELO name for the null sender).
func (f *SPF) CheckSender(ctx context.Context, conn filters.ConnInfo, from string) (filters.Verdict, error) {
	return f.verdict(ctx, conn, from)
}

// Check checks the SPF policy of the envelope sender of msg.
func (f *SPF) Check(ctx context.Context, msg *filters.Message) (filters.Verdict, error) {
	return f.verdict(ctx, msg.Conn, msg.Envelope.MailFrom)
}

func (f *SPF) verdict(ctx context.Context, conn filters.ConnInfo, from string) (filters.Verdict, error) {
	if conn.AuthUser != "" {
		return filters.Verdict{}, nil
	}
	o := checkSPF(ctx, f.opts.Resolver, conn, from)
	if err := ctx.Err(); err != nil {
		return filters.Verdict{}, context.Cause(ctx)
	}
	var v filters.Verdict
	if o.result == spf.Fail && f.opts.RejectSPFFail {
		v = o.rejectVerdict()
	}
	v.Evidence = []filters.Evidence{o.evidence()}
	return v, nil
}
