package filters

import (
	"fmt"
	"net/textproto"
	"slices"
	"strings"
)

// Action is what to do with a message. Actions are ordered by severity: a
// larger value is more severe, and when filters disagree the most severe
// action wins.
type Action int

// Actions, from least to most severe.
const (
	// Accept delivers the message normally. It is the zero value.
	Accept Action = iota
	// Junk delivers the message into the recipient's Junk mailbox.
	Junk
	// Quarantine accepts the message but holds it for an administrator
	// instead of delivering it.
	Quarantine
	// TempFail refuses the message with a 4xx reply so that the sender
	// retries later.
	TempFail
	// Reject refuses the message with a 5xx reply.
	Reject

	numActions = int(Reject) + 1
)

var actionNames = [numActions]string{"accept", "junk", "quarantine", "tempfail", "reject"}

// String returns the lower-case name of a, e.g. "reject".
func (a Action) String() string {
	if a.valid() {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

func (a Action) valid() bool {
	return a >= Accept && a <= Reject
}

// HeaderField is a header field to add to a message.
type HeaderField struct {
	Key, Value string
}

// Evidence is one finding of a filter, for logs, Authentication-Results and
// the dashboard.
type Evidence struct {
	// Filter is the name of the filter; the chain fills it in if empty.
	Filter string
	// Result is a short machine-readable outcome, e.g. "pass", "fail",
	// "softfail", "infected" or "error".
	Result string
	// Detail is a human-readable explanation.
	Detail string
	// Score is the filter's contribution to a spam score, if any.
	Score float64
}

// Verdict is the decision of a filter, or of a whole chain, about a message.
// The zero Verdict accepts the message without comment.
type Verdict struct {
	// Action is what to do with the message.
	Action Action

	// Code, EnhancedCode and Reason make up the SMTP reply for TempFail
	// and Reject. Zero values are replaced by the defaults 451 4.7.1 and
	// 550 5.7.1 respectively, as are values of the wrong class (e.g. a 5xx
	// code with TempFail). For Junk and Quarantine, Reason is only logged.
	Code         int
	EnhancedCode [3]int
	Reason       string

	// AddHeaders are fields to prepend to the stored message, in the
	// order given (the first one ends up at the top), e.g.
	// Authentication-Results or X-Spam-Status.
	AddHeaders []HeaderField
	// RemoveHeaders names header fields whose instances must be removed
	// from the received message before storage (e.g. forged
	// Authentication-Results). Fields in AddHeaders are not affected. Use
	// RemovesHeader to test a field name.
	RemoveHeaders []string
	// Rewrite, if not nil, changes the envelope, header fields at a
	// position or the body (milter modifications); see ApplyRewrite.
	Rewrite *Rewrite
	// Evidence lists what the filter found.
	Evidence []Evidence
	// Stage is, in a chain's verdict, the name of the stage whose verdict
	// decided the action (the first one to return it); "" for Accept.
	Stage string
}

// RemovesHeader reports whether header fields named key must be removed from
// the received message before storage. Names are compared
// case-insensitively.
func (v Verdict) RemovesHeader(key string) bool {
	return slices.ContainsFunc(v.RemoveHeaders, func(k string) bool {
		return strings.EqualFold(k, key)
	})
}

// Default SMTP replies.
var (
	defaultTempFailReply = reply{451, [3]int{4, 7, 1}, "Message deferred, try again later"}
	defaultRejectReply   = reply{550, [3]int{5, 7, 1}, "Message rejected"}
	filterErrorReply     = reply{451, [3]int{4, 7, 0}, "Temporary failure while checking the message, try again later"}
)

// reply is an SMTP reply.
type reply struct {
	code     int
	enhanced [3]int
	reason   string
}

func (r reply) verdict() Verdict {
	return Verdict{Action: TempFail, Code: r.code, EnhancedCode: r.enhanced, Reason: r.reason}
}

// maxReasonLen bounds the reply text so that the reply line stays far below
// the 512 octet limit of RFC 5321.
const maxReasonLen = 400

// normalized returns v with the SMTP reply defaults filled in, made safe to
// use in an SMTP reply.
func (v Verdict) normalized() Verdict {
	switch v.Action {
	case TempFail, Reject:
		def, class := defaultTempFailReply, 4
		if v.Action == Reject {
			def, class = defaultRejectReply, 5
		}
		if v.Code/100 != class {
			v.Code = def.code
		}
		if v.EnhancedCode[0] != class || v.EnhancedCode[1] < 0 || v.EnhancedCode[2] < 0 {
			v.EnhancedCode = def.enhanced
		}
		if v.Reason = sanitizeReason(v.Reason); v.Reason == "" {
			v.Reason = def.reason
		}
	default:
		v.Code, v.EnhancedCode = 0, [3]int{}
		v.Reason = sanitizeReason(v.Reason)
	}
	return v
}

// sanitizeReason turns s into printable US-ASCII fit for an SMTP reply line.
func sanitizeReason(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\r' || r == '\n':
			return ' '
		case r < ' ' || r == 0x7f:
			return -1
		case r > 0x7f:
			return '?'
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxReasonLen {
		s = s[:maxReasonLen]
	}
	return s
}

// validHeaderKey reports whether key is a syntactically valid field name
// (RFC 5322 section 3.6.8).
func validHeaderKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// sanitizeHeaderValue unfolds value and removes control characters, so that
// a filter cannot inject header fields or break the message. The writer
// folds long values again.
func sanitizeHeaderValue(value string) string {
	var b strings.Builder
	b.Grow(len(value))
	space := false
	for _, r := range value {
		switch {
		case r == ' ' || r == '\t' || r == '\r' || r == '\n':
			space = true
			continue
		case r < ' ' || r == 0x7f:
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// canonicalHeaderKey returns the canonical form of a field name.
func canonicalHeaderKey(key string) string {
	return textproto.CanonicalMIMEHeaderKey(key)
}

// FailurePolicy says what a chain does when a filter fails (returns an
// error, panics or times out).
type FailurePolicy int

// Failure policies.
const (
	// FailTempFail answers 451 4.7.0 so that the sender retries later. It
	// is the zero value and the default.
	FailTempFail FailurePolicy = iota
	// FailOpen ignores the failed filter as if it had accepted the message.
	FailOpen
)

// String returns the name of p.
func (p FailurePolicy) String() string {
	switch p {
	case FailTempFail:
		return "tempfail"
	case FailOpen:
		return "open"
	}
	return fmt.Sprintf("FailurePolicy(%d)", int(p))
}
