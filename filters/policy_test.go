package filters

import (
	"context"
	"reflect"
	"testing"
)

func fptr(v float64) *float64 { return &v }
func bptr(v bool) *bool       { return &v }

func TestStrictestPolicy(t *testing.T) {
	tests := []struct {
		name    string
		domains []DomainPolicy
		want    Policy
	}{
		{"no domains", nil, Policy{}},
		{"server settings", []DomainPolicy{{}}, Policy{ServerJunkScore: true, ServerRejectScore: true}},
		{"one domain", []DomainPolicy{{JunkScore: fptr(3), RejectScore: fptr(9), SpamFilter: bptr(false), VirusScan: bptr(false), DMARCEnforce: bptr(false)}},
			Policy{JunkScore: fptr(3), RejectScore: fptr(9), SkipSpam: true, SkipVirus: true, NoDMARCEnforce: true}},
		{"lowest thresholds", []DomainPolicy{{JunkScore: fptr(3), RejectScore: fptr(20)}, {JunkScore: fptr(6), RejectScore: fptr(1)}},
			Policy{JunkScore: fptr(3), RejectScore: fptr(1)}},
		{"with a domain on the server's", []DomainPolicy{{JunkScore: fptr(8)}, {RejectScore: fptr(2)}},
			Policy{JunkScore: fptr(8), RejectScore: fptr(2), ServerJunkScore: true, ServerRejectScore: true}},
		{"skipped only if every domain turns it off", []DomainPolicy{
			{SpamFilter: bptr(false), VirusScan: bptr(false), DMARCEnforce: bptr(false)},
			{SpamFilter: bptr(false), VirusScan: bptr(true)},
		}, Policy{SkipSpam: true, ServerJunkScore: true, ServerRejectScore: true}},
		{"explicitly on", []DomainPolicy{{SpamFilter: bptr(true), VirusScan: bptr(true), DMARCEnforce: bptr(true)}},
			Policy{ServerJunkScore: true, ServerRejectScore: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StrictestPolicy(tt.domains...); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestThreshold(t *testing.T) {
	tests := []struct {
		set    *float64
		server bool
		def    float64
		want   float64
	}{
		{nil, false, 5, 5},
		{nil, true, 0, 0},
		{fptr(3), false, 5, 3},
		{fptr(8), false, 5, 8},
		{fptr(8), true, 5, 5},
		{fptr(3), true, 5, 3},
		{fptr(8), true, 0, 8}, // the server never rejects
		{fptr(0), false, 5, 5},
	}
	for _, tt := range tests {
		if got := Threshold(tt.set, tt.server, tt.def); got != tt.want {
			t.Errorf("Threshold(%v, %v, %v) = %v, want %v", tt.set, tt.server, tt.def, got, tt.want)
		}
	}
}

func TestChainSkipWhen(t *testing.T) {
	virus := returning("virus", Reject, "infected")
	spam := returning("spam", Junk, "spammy")
	sender := &fakeEnvFilter{fakeFilter: fakeFilter{name: "sender"}}
	c := NewChain(nil,
		Stage{Filter: sender, Enabled: true, SkipWhen: func(*Message) bool { return true }},
		Stage{Filter: virus, Enabled: true, SkipWhen: func(m *Message) bool { return m.Policy.SkipVirus }},
		Stage{Filter: spam, Enabled: true, SkipWhen: func(m *Message) bool { return m.Policy.SkipSpam }},
	)
	msg := testMessage()
	msg.Policy.SkipVirus = true
	v := c.Check(context.Background(), msg)
	if v.Action != Junk || virus.calls.Load() != 0 || spam.calls.Load() != 1 || sender.calls.Load() != 0 {
		t.Fatalf("verdict %+v; calls virus %d spam %d sender %d", v, virus.calls.Load(), spam.calls.Load(), sender.calls.Load())
	}
	want := []Evidence{
		{Filter: "sender", Result: "skipped", Detail: SkippedDetail},
		{Filter: "virus", Result: "skipped", Detail: SkippedDetail},
	}
	if !reflect.DeepEqual(v.Evidence, want) {
		t.Errorf("evidence %+v, want %+v", v.Evidence, want)
	}
	// SkipWhen is not asked at MAIL FROM.
	c.CheckSender(context.Background(), msg.Conn, "a@example.org")
	if sender.senderCalls.Load() != 1 {
		t.Errorf("CheckSender ran the sender stage %d times", sender.senderCalls.Load())
	}
	// Without the policy, every stage runs; skips are not counted.
	v = c.Check(context.Background(), testMessage())
	if v.Action != Reject || virus.calls.Load() != 1 {
		t.Errorf("verdict %+v, virus calls %d", v, virus.calls.Load())
	}
	if st := c.Stats()["virus"]; st[Accept]+st[Reject] != 1 {
		t.Errorf("virus stats %v", st)
	}
}
