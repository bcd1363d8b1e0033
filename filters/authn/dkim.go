package authn

import (
	"bufio"
	"context"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

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

// sigTags are the tags of a DKIM-Signature field that identify it, with
// their white space removed.
type sigTags struct {
	d, i, s, a string
	// b is the first 8 characters of the signature.
	b string
}

// signatureTags returns the tags of the DKIM-Signature fields of h, top
// first (the order in which the dkim package verifies them), as far as
// they can be parsed: of a tag given twice, the last.
func signatureTags(values []string) []sigTags {
	out := make([]sigTags, len(values))
	for i, v := range values {
		t := &out[i]
		for len(v) > 0 {
			kv, rest, _ := strings.Cut(v, ";")
			v = rest
			k, val, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "d":
				t.d = stripSpace(val, -1)
			case "i":
				t.i = stripSpace(val, -1)
			case "s":
				t.s = stripSpace(val, -1)
			case "a":
				t.a = stripSpace(val, -1)
			case "b":
				t.b = stripSpace(val, 8)
			}
		}
	}
	return out
}

// stripSpace returns s without its white space (as strings.Fields sees
// it), cut to its first max bytes if max >= 0. It does not allocate when s
// has no white space to remove.
func stripSpace(s string, max int) string {
	var b []byte // nil until some space is removed
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		if unicode.IsSpace(r) {
			if b == nil {
				b = append(make([]byte, 0, len(s)), s[:i]...)
			}
		} else if b != nil {
			b = append(b, s[i:i+size]...)
		}
		i += size
		if max >= 0 && b == nil && i >= max {
			return s[:max]
		}
		if max >= 0 && len(b) >= max {
			return string(b[:max])
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

// verifyDKIM verifies the DKIM signatures of msg, at most max of them.
func (a *Authenticator) verifyDKIM(ctx context.Context, msg *filters.Message) []dkimOutcome {
	sigs := signatureTags(msg.Header.Values("DKIM-Signature"))
	if len(sigs) == 0 {
		return nil
	}
	// The dkim package reads through a bufio.Reader of 4096 bytes, or
	// the one it is given: a pooled one spares allocating it. It is not
	// used once VerifyWithOptions returns.
	br := a.readers.Get().(*bufio.Reader)
	br.Reset(msg.Open())
	verifs, err := dkim.VerifyWithOptions(br, &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			return a.opts.Resolver.LookupTXT(ctx, domain)
		},
		MaxVerifications: a.opts.MaxDKIMSignatures,
	})
	br.Reset(nil)
	a.readers.Put(br)
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
		if i < len(sigs) && strings.EqualFold(sigs[i].d, v.Domain) {
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
func outcomeFromTags(tags sigTags) dkimOutcome {
	return dkimOutcome{
		domain:     strings.ToLower(tags.d),
		identifier: tags.i,
		selector:   tags.s,
		algorithm:  tags.a,
		b:          tags.b,
	}
}

// evidence returns the outcome as Evidence.
func (o dkimOutcome) evidence() filters.Evidence {
	detail := "d=" + o.domain + " s=" + o.selector + " a=" + o.algorithm
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
