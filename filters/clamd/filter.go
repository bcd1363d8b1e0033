package clamd

import (
	"context"
	"fmt"

	"github.com/yubinmail/yubin/filters"
)

// Filter is a filters.Filter that scans every message with clamd and rejects
// infected ones with 554 5.7.1.
//
// When clamd cannot be reached or fails, Check returns the error and the
// chain's failure policy for the stage decides (by default a 451 tempfail,
// so that no message is lost or let through unscanned).
type Filter struct {
	// Client is the clamd to ask.
	Client *Client
	// MaxSize, if positive, skips scanning messages larger than this many
	// bytes (they are accepted with "skipped" evidence). Set it to clamd's
	// StreamMaxLength to avoid tempfailing large messages forever; 0 scans
	// everything.
	MaxSize int64
}

var _ filters.Filter = (*Filter)(nil)

// NewFilter returns a Filter that asks c.
func NewFilter(c *Client) *Filter {
	return &Filter{Client: c}
}

// Name returns "clamd".
func (f *Filter) Name() string { return "clamd" }

// Check scans msg.
func (f *Filter) Check(ctx context.Context, msg *filters.Message) (filters.Verdict, error) {
	if f.MaxSize > 0 && msg.Size > f.MaxSize {
		return filters.Verdict{Evidence: []filters.Evidence{{
			Filter: f.Name(),
			Result: "skipped",
			Detail: fmt.Sprintf("message of %d bytes is larger than the scan limit of %d bytes", msg.Size, f.MaxSize),
		}}}, nil
	}
	res, err := f.Client.Scan(ctx, msg.Open())
	if err != nil {
		return filters.Verdict{}, err
	}
	if !res.Infected {
		return filters.Verdict{Evidence: []filters.Evidence{{
			Filter: f.Name(), Result: "clean",
		}}}, nil
	}
	return filters.Verdict{
		Action:       filters.Reject,
		Code:         554,
		EnhancedCode: [3]int{5, 7, 1},
		Reason:       fmt.Sprintf("message contains a virus (%s)", res.Signature),
		Evidence: []filters.Evidence{{
			Filter: f.Name(),
			Result: "infected",
			Detail: res.Signature,
		}},
	}, nil
}
