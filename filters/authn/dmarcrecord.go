package authn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
)

// DMARC record discovery and parsing (RFC 7489 sections 6.3, 6.6.3), as
// records are published: tag names and the values of p and sp are compared
// without regard to case, unknown tags are ignored, and so is an unknown or
// malformed value of a tag other than p and sp (the tag keeps its default).

// errNoDMARC says a domain publishes no DMARC record: none at all, or more
// than one (section 6.6.3: "policy discovery terminates and DMARC
// processing is not applied").
var errNoDMARC = errors.New("no DMARC record")

// errMultipleDMARC is errNoDMARC for a domain publishing several records.
var errMultipleDMARC = fmt.Errorf("%w: more than one record published", errNoDMARC)

// dmarcTempError is a DNS failure worth retrying.
type dmarcLookupError struct{ err error }

func (e dmarcLookupError) Error() string { return "DMARC record lookup: " + e.err.Error() }
func (e dmarcLookupError) Unwrap() error { return e.err }

// fetchDMARC returns the DMARC record published at _dmarc.domain: errNoDMARC
// (possibly errMultipleDMARC) when there is none, a dmarcLookupError for a
// temporary DNS failure, another error for a record that cannot be used.
func fetchDMARC(ctx context.Context, lookupTXT func(context.Context, string) ([]string, error), domain string) (*dmarc.Record, error) {
	txts, err := lookupTXT(ctx, "_dmarc."+domain)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, errNoDMARC
		}
		return nil, dmarcLookupError{err}
	}
	var found []string
	for _, txt := range txts {
		if isDMARCRecord(txt) {
			found = append(found, txt)
		}
	}
	switch len(found) {
	case 0:
		return nil, errNoDMARC
	case 1:
		return parseDMARC(found[0])
	}
	return nil, errMultipleDMARC
}

// isDMARCRecord reports whether txt starts with the version tag "v=DMARC1"
// (section 6.6.3 step 2: other TXT records are discarded). The value is
// case-sensitive (%x44 %x4d %x41 %x52 %x43 %x31); white space may surround
// the "=".
func isDMARCRecord(txt string) bool {
	first, _, _ := strings.Cut(strings.TrimLeft(txt, " \t"), ";")
	k, v, ok := strings.Cut(first, "=")
	return ok && strings.TrimRight(k, " \t") == "v" && strings.Trim(v, " \t") == "DMARC1"
}

// parseDMARC parses a DMARC record (section 6.3). A missing or invalid p=
// (or an invalid sp=) makes the record unusable, unless rua= names a
// syntactically valid URI: the record then counts as p=none (section
// 6.6.3).
func parseDMARC(txt string) (*dmarc.Record, error) {
	rec := &dmarc.Record{DKIMAlignment: dmarc.AlignmentRelaxed, SPFAlignment: dmarc.AlignmentRelaxed}
	var policyErr error
	seen := make(map[string]bool)
	pSeen := false
	for i, part := range strings.Split(txt, ";") {
		part = strings.Trim(part, " \t\r\n")
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue // not a tag: ignored
		}
		k = strings.ToLower(strings.Trim(k, " \t"))
		v = strings.Trim(v, " \t")
		if i == 0 || seen[k] {
			continue // the version, checked by isDMARCRecord; the first of a tag counts
		}
		seen[k] = true
		switch k {
		case "p":
			pSeen = true
			p, err := parsePolicyValue(v)
			if err != nil {
				policyErr = fmt.Errorf("invalid p=%q", v)
				continue
			}
			rec.Policy = p
		case "sp":
			p, err := parsePolicyValue(v)
			if err != nil {
				policyErr = fmt.Errorf("invalid sp=%q", v)
				continue
			}
			rec.SubdomainPolicy = p
		case "adkim", "aspf":
			mode := dmarc.AlignmentMode(dmarc.AlignmentRelaxed)
			if strings.EqualFold(v, "s") {
				mode = dmarc.AlignmentStrict
			}
			if k == "adkim" {
				rec.DKIMAlignment = mode
			} else {
				rec.SPFAlignment = mode
			}
		case "pct":
			// An invalid pct keeps the default, 100.
			if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 100 {
				rec.Percent = &n
			}
		case "rua":
			rec.ReportURIAggregate = dmarcURIs(v)
		case "ruf":
			rec.ReportURIFailure = dmarcURIs(v)
		case "ri":
			// Report interval: we send no reports; ignored.
		case "fo", "rf":
			// Failure reporting options and format: we send no
			// failure reports; any value is ignored.
		default:
			// Unknown tags MUST be ignored (section 6.3).
		}
	}
	if !pSeen && policyErr == nil {
		policyErr = errors.New("no p= tag")
	}
	if policyErr != nil {
		if len(rec.ReportURIAggregate) > 0 {
			// Section 6.6.3: as if the record said p=none.
			rec.Policy, rec.SubdomainPolicy = dmarc.PolicyNone, ""
			return rec, nil
		}
		return nil, fmt.Errorf("invalid DMARC record: %w", policyErr)
	}
	return rec, nil
}

// parsePolicyValue parses the value of p= or sp=, in any case.
func parsePolicyValue(v string) (dmarc.Policy, error) {
	switch strings.ToLower(v) {
	case "none":
		return dmarc.PolicyNone, nil
	case "quarantine":
		return dmarc.PolicyQuarantine, nil
	case "reject":
		return dmarc.PolicyReject, nil
	}
	return "", errors.New("unknown policy")
}

// dmarcURIs returns the syntactically valid URIs of a rua= or ruf= value:
// a comma-separated list of URIs each optionally followed by "!size".
func dmarcURIs(v string) []string {
	var out []string
	for _, u := range strings.Split(v, ",") {
		u = strings.TrimSpace(u)
		if i := strings.LastIndexByte(u, '!'); i > 0 {
			u = u[:i]
		}
		scheme, rest, ok := strings.Cut(u, ":")
		if !ok || rest == "" || scheme == "" || strings.ContainsAny(u, " \t<>\"") {
			continue
		}
		out = append(out, u)
	}
	return out
}
