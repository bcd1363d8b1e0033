package spam

import (
	"context"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/filters"
)

func fp(v float64) *float64 { return &v }

// TestPolicyThresholds checks that the recipients' domains' thresholds
// (Message.Policy) decide, with the filter's own where they say so.
func TestPolicyThresholds(t *testing.T) {
	res := &fakeResolver{answers: map[string][]string{
		"5.113.0.203.bl.example":    {"127.0.0.2"},
		"5.113.0.203.other.example": {"127.0.0.4"},
	}}
	// Two listings: a score of 6.
	f := New(Options{JunkScore: 5, RejectScore: 15, DNSBLs: []string{"bl.example", "other.example"}, Resolver: res})
	tests := []struct {
		name     string
		policy   filters.Policy
		want     filters.Action
		required string
	}{
		{"server's", filters.Policy{}, filters.Junk, "5.0"},
		{"domain rejects from 1", filters.Policy{RejectScore: fp(1)}, filters.Reject, "5.0"},
		{"domain junk from 7", filters.Policy{JunkScore: fp(7)}, filters.Accept, "7.0"},
		{"domain junk from 7, another on the server's 5", filters.Policy{JunkScore: fp(7), ServerJunkScore: true}, filters.Junk, "5.0"},
		{"domain junk from 3, another on the server's 5", filters.Policy{JunkScore: fp(3), ServerJunkScore: true}, filters.Junk, "3.0"},
		{"domain rejects from 6, another on the server's 15", filters.Policy{RejectScore: fp(6), ServerRejectScore: true}, filters.Reject, "5.0"},
		{"domain rejects from 20", filters.Policy{RejectScore: fp(20)}, filters.Junk, "5.0"},
		{"strictest of several", filters.StrictestPolicy(filters.DomainPolicy{RejectScore: fp(30)}, filters.DomainPolicy{RejectScore: fp(1)}), filters.Reject, "5.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := newTestMessage(crlf(cleanHeader + "\nhello\n"))
			msg.Policy = tt.policy
			v, err := f.Check(context.Background(), msg)
			if err != nil {
				t.Fatal(err)
			}
			if v.Action != tt.want {
				t.Errorf("action %v, want %v (%s)", v.Action, tt.want, headerValue(v, "X-Spam-Status"))
			}
			if st := headerValue(v, "X-Spam-Status"); !strings.Contains(st, "score=6.0 required="+tt.required+" ") {
				t.Errorf("X-Spam-Status %q, want required=%s", st, tt.required)
			}
		})
	}
	// A filter that never rejects still rejects for a domain asking it to.
	never := New(Options{DNSBLs: []string{"bl.example", "other.example"}, Resolver: res})
	if j, r := never.Thresholds(filters.Policy{RejectScore: fp(4), ServerRejectScore: true}); j != DefaultJunkScore || r != 4 {
		t.Errorf("thresholds %v, %v", j, r)
	}
	if _, r := never.Thresholds(filters.Policy{ServerRejectScore: true}); r != 0 {
		t.Errorf("reject threshold %v, want 0 (never)", r)
	}
}
