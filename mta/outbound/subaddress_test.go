package outbound

import (
	"testing"

	"github.com/emersion/go-smtp"
)

// TestBounceToSubaddressedSender: issue 19 item 1. A user who sent as
// ann+shop@ (submission allows it) gets the delivery status notification
// in ann's INBOX; with subaddressing off it has nowhere to go.
func TestBounceToSubaddressedSender(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		delims string
		want   int
	}{{"+", 1}, {"", 0}} {
		st, snk, clk := testStore(t), newSink(t), newClock()
		snk.data = func(int) error {
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "no"}
		}
		w := testWorker(t, st, snk, clk, func(o *Options) { o.SubaddressDelimiters = tc.delims })
		sender := "ann+shop@local.test"
		enqueue(t, st, sender, "bob@remote.test")
		process(t, w)
		in := inbox(t, st, ann)
		if len(in) != tc.want {
			t.Fatalf("delimiters %q: ann got %d notifications, want %d", tc.delims, len(in), tc.want)
		}
		if tc.want == 1 {
			checkDSN(t, in[0], "failed")
		}
	}
}
