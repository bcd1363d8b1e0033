package authn

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"github.com/yubinmail/yubin/filters"
)

// DMARC results (RFC 7489 section 11.2, RFC 8601).
const (
	dmarcNone      = "none"
	dmarcPass      = "pass"
	dmarcFail      = "fail"
	dmarcTempError = "temperror"
	dmarcPermError = "permerror"
)

// dmarcOutcome is the DMARC evaluation (RFC 7489) of one author domain.
type dmarcOutcome struct {
	result string
	// domain is the From domain, recordDomain where the record was found
	// (the From domain or its organizational domain).
	domain, recordDomain string
	// policy is the policy that applies (p=, or sp= for a subdomain);
	// disposition what is done after pct= sampling.
	policy, disposition dmarc.Policy
	err                 error
}

// maxFromDomains bounds the distinct author domains whose DMARC policy is
// looked up for one message.
const maxFromDomains = 10

// errTooManyFromDomains is returned by fromDomains for a message with
// more than maxFromDomains author domains.
var errTooManyFromDomains = fmt.Errorf("more than %d author domains in From", maxFromDomains)

// errMultipleFrom is returned by fromDomains for a message with more than
// one From field: RFC 5322 allows one, and a reader may be shown any of
// them (RFC 7489 section 6.6.1: such messages are typically rejected).
var errMultipleFrom = errors.New("more than one From field")

// fromDomains returns the distinct domains of the author addresses in the
// From field of msg (RFC 7489 section 6.6.1), lower-cased. A message
// without exactly one From field has no author domain to authenticate.
func fromDomains(msg *filters.Message) ([]string, error) {
	values := msg.Header.Values("From")
	if len(values) == 0 {
		return nil, errors.New("no From field")
	}
	if len(values) > 1 {
		return nil, errMultipleFrom
	}
	var out []string
	for _, v := range values {
		var domains []string
		if list, err := mail.ParseAddressList(v); err == nil {
			for _, a := range list {
				domains = append(domains, domainOf(a.Address))
			}
		} else if d := domainOf(lastAddress(v)); d != "" {
			// Unparseable, as spam often is: take what a reader would
			// likely see as the address rather than let the message
			// escape the check.
			domains = append(domains, d)
		}
		for _, d := range domains {
			if d != "" && !containsFold(out, d) {
				if len(out) == maxFromDomains {
					return nil, errTooManyFromDomains
				}
				out = append(out, d)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no author domain in From")
	}
	return out, nil
}

// lastAddress returns the address in the last <...> of s, or s.
func lastAddress(s string) string {
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		s = s[i+1:]
		if j := strings.IndexByte(s, '>'); j >= 0 {
			s = s[:j]
		}
	}
	return strings.TrimSpace(s)
}

// domainOf returns the lower-cased domain of the address addr, or "".
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(addr[i+1:]), "."))
	if strings.ContainsAny(d, " \t\r\n<>()[],;:\"\\@") {
		return ""
	}
	return toASCII(d)
}

// toASCII returns the domain d with its U-labels turned into A-labels
// (IDNA), as DNS and DKIM know it; d itself if it cannot be converted.
func toASCII(d string) string {
	if a, err := idna.Lookup.ToASCII(d); err == nil {
		return strings.ToLower(a)
	}
	return d
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// orgDomain returns the organizational domain of domain (RFC 7489
// section 3.2), from the public suffix list.
func orgDomain(domain string) string {
	d, err := publicsuffix.EffectiveTLDPlusOne(strings.ToLower(domain))
	if err != nil {
		return strings.ToLower(domain)
	}
	return d
}

// aligned reports whether the authenticated domain d is aligned with the
// From domain from in mode.
func aligned(d, from string, mode dmarc.AlignmentMode) bool {
	d = toASCII(strings.ToLower(strings.TrimSuffix(d, ".")))
	if d == "" {
		return false
	}
	if d == from {
		return true
	}
	return mode != dmarc.AlignmentStrict && orgDomain(d) == orgDomain(from)
}

// lookupDMARC finds the DMARC record for the From domain from (RFC 7489
// section 6.6.3): at the domain itself, else (when it publishes none) at
// its organizational domain. sub reports whether the record found is the
// organizational domain's, so that sp= applies. Several records at either
// place mean no DMARC (errMultipleDMARC).
func (a *Authenticator) lookupDMARC(ctx context.Context, from string) (rec *dmarc.Record, at string, sub bool, err error) {
	rec, err = fetchDMARC(ctx, a.opts.Resolver.LookupTXT, from)
	if !errors.Is(err, errNoDMARC) || errors.Is(err, errMultipleDMARC) {
		return rec, from, false, err
	}
	org := orgDomain(from)
	if org == from {
		return nil, from, false, err
	}
	rec, err = fetchDMARC(ctx, a.opts.Resolver.LookupTXT, org)
	return rec, org, true, err
}

// evaluateDMARC evaluates the DMARC policy of the From domain from, given
// the SPF and DKIM outcomes.
func (a *Authenticator) evaluateDMARC(ctx context.Context, from string, spfRes spfOutcome, dkims []dkimOutcome) dmarcOutcome {
	o := dmarcOutcome{domain: from, policy: dmarc.PolicyNone, disposition: dmarc.PolicyNone}
	rec, at, sub, err := a.lookupDMARC(ctx, from)
	o.recordDomain = at
	var temp dmarcLookupError
	switch {
	case errors.Is(err, errMultipleDMARC):
		o.result, o.err = dmarcNone, err
		return o
	case errors.Is(err, errNoDMARC):
		o.result = dmarcNone
		return o
	case errors.As(err, &temp):
		o.result, o.err = dmarcTempError, err
		return o
	case err != nil:
		// An invalid record: as if there was none, but say so.
		o.result, o.err = dmarcPermError, err
		return o
	}
	o.policy = rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		o.policy = rec.SubdomainPolicy
	}

	spfAligned := aligned(spfRes.domain, from, rec.SPFAlignment)
	pending := false // an aligned identifier might have passed
	if spfAligned {
		switch spfRes.result {
		case spf.Pass:
			o.result = dmarcPass
			return o
		case spf.TempError:
			pending = true
		}
	}
	for _, d := range dkims {
		if !aligned(d.domain, from, rec.DKIMAlignment) {
			continue
		}
		switch d.result {
		case dkimPass:
			o.result = dmarcPass
			return o
		case dkimTempError:
			pending = true
		}
	}
	if pending {
		o.result, o.err = dmarcTempError, errors.New("temporary error authenticating an aligned identifier")
		return o
	}

	o.result = dmarcFail
	o.disposition = o.policy
	if pct := rec.Percent; pct != nil && *pct < 100 && !sampled(*pct) {
		// RFC 7489 section 6.6.4: a message not sampled gets the next
		// less strict policy.
		switch o.disposition {
		case dmarc.PolicyReject:
			o.disposition = dmarc.PolicyQuarantine
		case dmarc.PolicyQuarantine:
			o.disposition = dmarc.PolicyNone
		}
	}
	return o
}

// sampled reports whether a message falls within the pct percent of
// messages that a DMARC policy applies to. Each message is drawn at random
// (RFC 7489 section 6.6.4), from a source the sender cannot see or
// influence: no Message-ID, or anything else a spoofer chooses or could
// learn by probing, decides it.
func sampled(pct int) bool {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return true // cannot happen (crypto/rand); the strict choice
	}
	return int(binary.BigEndian.Uint32(b[:])%100) < pct
}

// evidence returns the outcome as Evidence.
func (o dmarcOutcome) evidence() filters.Evidence {
	detail := "header.from=" + o.domain + " p=" + string(o.policy) + " dis=" + string(o.disposition)
	if o.recordDomain != "" && o.recordDomain != o.domain {
		detail += " (record of " + o.recordDomain + ")"
	}
	if o.err != nil {
		detail += ": " + o.err.Error()
	}
	return filters.Evidence{Filter: "dmarc", Result: o.result, Detail: detail}
}

// authResult returns the outcome for Authentication-Results.
func (o dmarcOutcome) authResult() authres.Result {
	r := &authres.DMARCResult{Value: authres.ResultValue(o.result), From: o.domain}
	if o.result == dmarcFail {
		r.Reason = "p=" + string(o.policy) + " dis=" + string(o.disposition)
	}
	return r
}

// severity orders dispositions.
func severity(p dmarc.Policy) int {
	switch p {
	case dmarc.PolicyReject:
		return 2
	case dmarc.PolicyQuarantine:
		return 1
	}
	return 0
}
