package rspamd

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/yubinmail/yubin/filters"
)

// Filter is a filters.Filter that checks every message with rspamd:
//
//   - "reject" rejects it with 550 5.7.1;
//   - "soft reject" defers it with 451 4.7.1;
//   - "greylist" defers it with 451 4.7.1 only when rspamd greylists
//     (its greylist module added the GREYLIST symbol) and the triplet
//     (client network, sender, recipients) was not seen before: the
//     first attempt is remembered and a retry after GreylistDelay is
//     accepted, whatever rspamd answers then. Without the GREYLIST
//     symbol rspamd cannot greylist (e.g. no Redis) and would say
//     "greylist" forever: the action counts as "add header";
//   - "add header" and "rewrite subject" file it as junk;
//   - "discard" and "quarantine" quarantine it (a message is never dropped
//     silently);
//   - "no action" (and any action unknown here) accepts it.
//
// Every verdict adds X-Rspamd-Score and X-Rspamd-Action header fields and
// evidence with the score (which the spam filter adds to its own, see
// spam.Options.RspamdWeight) and the symbols that matched. When rspamd
// cannot be reached or fails, Check returns the error and the stage's
// failure policy decides.
type Filter struct {
	Client *Client
	// GreylistDelay is how long a greylisted sender must wait before its
	// retry is accepted; 0 means DefaultGreylistDelay.
	GreylistDelay time.Duration
	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time

	once     sync.Once
	greylist *greylist
}

var _ filters.Filter = (*Filter)(nil)

// NewFilter returns a Filter that asks c.
func NewFilter(c *Client) *Filter {
	return &Filter{Client: c}
}

// Name returns "rspamd".
func (f *Filter) Name() string { return "rspamd" }

// Check checks msg with rspamd.
func (f *Filter) Check(ctx context.Context, msg *filters.Message) (filters.Verdict, error) {
	res, err := f.Client.Check(ctx, msg)
	if err != nil {
		return filters.Verdict{}, err
	}
	v := verdict(res)
	if res.Action == ActionGreylist {
		f.once.Do(func() { f.greylist = newGreylist(f.GreylistDelay, 0, f.Now) })
		f.applyGreylist(&v, res, msg)
	}
	return v, nil
}

// applyGreylist decides a "greylist" answer; see Filter.
func (f *Filter) applyGreylist(v *filters.Verdict, res *Result, msg *filters.Message) {
	if _, ok := res.Symbols[greylistSymbol]; !ok {
		v.Action, v.Code, v.EnhancedCode = filters.Junk, 0, [3]int{}
		v.Reason = "greylist without greylisting in rspamd: add header"
		v.Evidence[0].Result = "greylist (add header)"
		return
	}
	if deferred, wait := f.greylist.check(msg); deferred {
		v.Action, v.Code, v.EnhancedCode = filters.TempFail, 451, [3]int{4, 7, 1}
		v.Reason = cmp.Or(res.Messages["smtp_message"], fmt.Sprintf("Greylisted, try again in %d seconds", int(wait.Round(time.Second).Seconds())))
		return
	}
	v.Action, v.Code, v.EnhancedCode, v.Reason = filters.Accept, 0, [3]int{}, ""
	v.Evidence[0].Result = "greylist passed"
}

// verdict maps rspamd's result to a verdict.
func verdict(res *Result) filters.Verdict {
	score := strconv.FormatFloat(res.Score, 'f', 2, 64)
	v := filters.Verdict{
		AddHeaders: []filters.HeaderField{
			{Key: "X-Rspamd-Score", Value: score},
			{Key: "X-Rspamd-Action", Value: res.Action},
		},
	}
	smtpMessage := res.Messages["smtp_message"]
	result := res.Action
	switch res.Action {
	case ActionReject:
		v.Action, v.Code, v.EnhancedCode = filters.Reject, 550, [3]int{5, 7, 1}
		v.Reason = cmp.Or(smtpMessage, "Spam message rejected")
	case ActionSoftReject, ActionGreylist:
		v.Action, v.Code, v.EnhancedCode = filters.TempFail, 451, [3]int{4, 7, 1}
		v.Reason = cmp.Or(smtpMessage, "Try again later")
	case ActionAddHeader, ActionRewriteSubject, ActionDiscard, ActionQuarantine:
		v.Action = filters.Junk
		if res.Action == ActionDiscard || res.Action == ActionQuarantine {
			v.Action = filters.Quarantine
		}
		// The filter's name goes with the reason where it is shown
		// ("rspamd: ..."): not in the reason itself.
		v.Reason = res.Action + " (score " + score + ")"
	case ActionNoAction:
		if res.IsSkipped {
			result = "skipped"
		}
	default:
		result = "unknown action " + strconv.Quote(res.Action)
	}
	v.Evidence = []filters.Evidence{{
		Filter: "rspamd",
		Result: result,
		Detail: detail(res),
		Score:  res.Score,
	}}
	return v
}

// maxSymbolsInDetail bounds how many symbols the evidence lists.
const maxSymbolsInDetail = 30

// detail describes the score and the symbols of res, highest scores first,
// e.g. "score=7.50 required=15.00 symbols=BAYES_SPAM(5.10),R_SPF_FAIL(1.00)".
func detail(res *Result) string {
	syms := make([]Symbol, 0, len(res.Symbols))
	for name, s := range res.Symbols {
		if s.Name == "" {
			s.Name = name
		}
		syms = append(syms, s)
	}
	slices.SortFunc(syms, func(a, b Symbol) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	var b strings.Builder
	fmt.Fprintf(&b, "score=%.2f required=%.2f", res.Score, res.RequiredScore)
	for i, s := range syms {
		if i == maxSymbolsInDetail {
			fmt.Fprintf(&b, ",...(%d more)", len(syms)-i)
			break
		}
		if i == 0 {
			b.WriteString(" symbols=")
		} else {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s(%.2f)", s.Name, s.Score)
	}
	return b.String()
}
