package spam

import (
	"context"
	"reflect"
	"testing"

	"github.com/yubinmail/yubin/filters"
)

// capture is a filter that keeps the message it is given.
type capture struct{ msg *filters.Message }

func (c *capture) Name() string { return "capture" }

func (c *capture) Check(_ context.Context, m *filters.Message) (filters.Verdict, error) {
	c.msg = m
	return filters.Verdict{}, nil
}

// adder adds an Authentication-Results field, as sender authentication does.
type adder struct{}

func (adder) Name() string { return "adder" }

func (adder) Check(context.Context, *filters.Message) (filters.Verdict, error) {
	return filters.Verdict{AddHeaders: []filters.HeaderField{{Key: "Authentication-Results", Value: "mx.example.com; spf=pass smtp.mailfrom=example.net"}}}, nil
}

// TestParseAfterAddedFields checks that a message whose Header has fields
// added by an earlier stage parses as it did before (same tokens, same
// texts) and without parsing its header a second time.
func TestParseAfterAddedFields(t *testing.T) {
	raw := cleanHeader + "Content-Type: text/plain; charset=utf-8\n\nHello Bob, the quarterly notes are attached below.\n"
	msg := newTestMessage(raw)
	got := &capture{}
	c := filters.NewChain(nil, filters.Stage{Filter: adder{}, Enabled: true}, filters.Stage{Filter: got, Enabled: true})
	c.Check(context.Background(), msg)
	later := got.msg
	if later == nil || !later.Header.Has("Authentication-Results") {
		t.Fatal("the second stage did not get the added field")
	}
	ctx := context.Background()
	a, b := parseMessageOf(ctx, msg), parseMessageOf(ctx, later)
	if !reflect.DeepEqual(a.Texts, b.Texts) || !reflect.DeepEqual(a.MediaTypes, b.MediaTypes) || a.Parts != b.Parts ||
		!reflect.DeepEqual(a.Links, b.Links) || !reflect.DeepEqual(a.Attachments, b.Attachments) {
		t.Errorf("the bodies parse differently:\n%+v\n%+v", a, b)
	}
	allocs := func(m *filters.Message) float64 {
		return testing.AllocsPerRun(50, func() { parseMessageOf(ctx, m) })
	}
	if x, y := allocs(msg), allocs(later); y > x+2 {
		t.Errorf("%.0f allocations with the added field, %.0f without: the header was parsed again", y, x)
	}
}
