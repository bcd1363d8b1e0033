package authn

import (
	"testing"

	"github.com/yubinmail/yubin/filters"
)

// TestDMARCNotEnforced checks that recipients' domains that do not enforce
// DMARC get the results recorded, not acted upon.
func TestDMARCNotEnforced(t *testing.T) {
	a := newAuthenticator(t, Options{})
	for _, tt := range []struct {
		name, from string
		enforced   filters.Action
	}{
		{"p=reject", "alice@example.com", filters.Reject},
		{"p=quarantine", "alice@example.edu", filters.Junk},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg := message(newMail(tt.from, tt.name+"@example.com"), badIP, "client.example.net", "x@example.net")
			if v := check(t, a, msg); v.Action != tt.enforced {
				t.Fatalf("enforced: Action = %v, want %v", v.Action, tt.enforced)
			}
			msg.Policy = filters.StrictestPolicy(filters.DomainPolicy{DMARCEnforce: new(bool)})
			v := check(t, a, msg)
			if v.Action != filters.Accept {
				t.Errorf("not enforced: Action = %v (%s), want accept", v.Action, v.Reason)
			}
			if got := arResults(t, v)["dmarc"]; len(got) != 1 || got[0][:5] != "fail " {
				t.Errorf("dmarc = %q, want fail", got)
			}
			var noted bool
			for _, e := range v.Evidence {
				noted = noted || e.Filter == "dmarc" && e.Result == "not-enforced"
			}
			if !noted {
				t.Errorf("no not-enforced evidence in %+v", v.Evidence)
			}
		})
	}
}
