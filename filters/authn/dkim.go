package authn

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/yubinmail/yubin/filters"
)

// DKIM results (RFC 8601 section 2.7.1).
const (
	dkimNone      = "none"
	dkimPass      = "pass"
	dkimFail      = "fail"
	dkimNeutral   = "neutral"
	dkimTempError = "temperror"
	dkimPermError = "permerror"
)

// dkimOutcome is the verification of one DKIM-Signature field (RFC 6376).
type dkimOutcome struct {
	result string
	// domain (d=), identifier (i=), selector (s=), algorithm (a=) and the
	// first characters of the signature (b=) of the field.
	domain, identifier, selector, algorithm, b string
	err                                        error
}

// signatureTags returns the tags of the DKIM-Signature fields of h, top
// first (the order in which the dkim package verifies them), as far as
// they can be parsed.
func signatureTags(values []string) []map[string]string {
	out := make([]map[string]string, len(values))
	for i, v := range values {
		tags := make(map[string]string)
		for _, kv := range strings.Split(v, ";") {
			k, val, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			tags[strings.TrimSpace(k)] = strings.Join(strings.Fields(val), "")
		}
		out[i] = tags
	}
	return out
}

// verifyDKIM verifies the DKIM signatures of msg, at most max of them.
func (a *Authenticator) verifyDKIM(ctx context.Context, msg *filters.Message) []dkimOutcome {
	sigs := signatureTags(msg.Header.Values("DKIM-Signature"))
	if len(sigs) == 0 {
		return nil
	}
	verifs, err := dkim.VerifyWithOptions(msg.Open(), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			return a.opts.Resolver.LookupTXT(ctx, domain)
		},
		MaxVerifications: a.opts.MaxDKIMSignatures,
	})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		// The message could not be processed at all (e.g. a broken
		// header): every signature is neutral.
		a.opts.Logger.Debug("dkim verification failed", "error", err)
		out := make([]dkimOutcome, 0, len(sigs))
		for _, tags := range sigs {
			o := outcomeFromTags(tags)
			o.result, o.err = dkimNeutral, err
			out = append(out, o)
		}
		return out
	}
	out := make([]dkimOutcome, 0, len(verifs))
	for i, v := range verifs {
		var o dkimOutcome
		if i < len(sigs) && strings.EqualFold(sigs[i]["d"], v.Domain) {
			o = outcomeFromTags(sigs[i])
		}
		o.domain, o.identifier, o.err = strings.ToLower(v.Domain), v.Identifier, v.Err
		switch {
		case v.Err == nil:
			o.result = dkimPass
		case dkim.IsTempFail(v.Err):
			o.result = dkimTempError
		case dkim.IsPermFail(v.Err):
			o.result = dkimPermError
		default:
			o.result = dkimFail
		}
		out = append(out, o)
	}
	return out
}

// outcomeFromTags returns an outcome with the identification of the
// signature with tags.
func outcomeFromTags(tags map[string]string) dkimOutcome {
	b := tags["b"]
	if len(b) > 8 {
		b = b[:8]
	}
	return dkimOutcome{
		domain:     strings.ToLower(tags["d"]),
		identifier: tags["i"],
		selector:   tags["s"],
		algorithm:  tags["a"],
		b:          b,
	}
}

// evidence returns the outcome as Evidence.
func (o dkimOutcome) evidence() filters.Evidence {
	detail := fmt.Sprintf("d=%s s=%s a=%s", o.domain, o.selector, o.algorithm)
	if o.err != nil {
		detail += ": " + o.err.Error()
	}
	return filters.Evidence{Filter: "dkim", Result: o.result, Detail: detail}
}

// authResult returns the outcome for Authentication-Results.
func (o dkimOutcome) authResult() authres.Result {
	params := map[string]string{
		"header.d": o.domain,
		"header.i": o.identifier,
		"header.s": o.selector,
		"header.a": o.algorithm,
		"header.b": o.b,
	}
	if o.err != nil && o.result != dkimPass {
		params["reason"] = reasonText(o.err)
	}
	return &authres.GenericResult{Method: "dkim", Value: authres.ResultValue(o.result), Params: params}
}

// reasonText returns err as a reason for Authentication-Results: without
// the package prefix and without the details of a DNS error, which would
// name our resolver.
func reasonText(err error) string {
	s := strings.TrimPrefix(err.Error(), "dkim: ")
	if i := strings.Index(s, ": lookup "); i >= 0 {
		s = s[:i]
	}
	return s
}
