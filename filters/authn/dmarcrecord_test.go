package authn

import (
	"testing"

	"github.com/emersion/go-msgauth/dmarc"
)

func TestParseDMARC(t *testing.T) {
	pct := func(n int) *int { return &n }
	tests := []struct {
		txt      string
		ok       bool
		p, sp    dmarc.Policy
		adkim    dmarc.AlignmentMode
		percent  *int
		isRecord bool
	}{
		{txt: "v=DMARC1; p=reject", ok: true, p: "reject", adkim: "r", isRecord: true},
		{txt: "v=DMARC1; p=Reject; sp=QUARANTINE", ok: true, p: "reject", sp: "quarantine", adkim: "r", isRecord: true},
		{txt: "v=DMARC1;P=none;ADKIM=S", ok: true, p: "none", adkim: "s", isRecord: true},
		{txt: "v = DMARC1 ; p = quarantine ; pct = 20", ok: true, p: "quarantine", adkim: "r", percent: pct(20), isRecord: true},
		{txt: "v=DMARC1; p=reject; rf=iodef; fo=z; ri=x; pct=101; adkim=x; np=reject", ok: true, p: "reject", adkim: "r", isRecord: true},
		{txt: "v=DMARC1; p=reject; p=none", ok: true, p: "reject", adkim: "r", isRecord: true},
		{txt: "v=DMARC1; junk; p=reject;;", ok: true, p: "reject", adkim: "r", isRecord: true},
		{txt: "v=DMARC1; p=bogus", isRecord: true},
		{txt: "v=DMARC1; rua=mailto:x@example.com", ok: true, p: "none", adkim: "r", isRecord: true},
		{txt: "v=DMARC1; p=bogus; rua=mailto:x@example.com!10m", ok: true, p: "none", adkim: "r", isRecord: true},
		{txt: "v=DMARC1; p=reject; sp=bogus", isRecord: true},
		{txt: "v=dmarc1; p=reject"},
		{txt: "p=reject; v=DMARC1"},
		{txt: "v=spf1 -all"},
	}
	for _, tt := range tests {
		t.Run(tt.txt, func(t *testing.T) {
			if got := isDMARCRecord(tt.txt); got != tt.isRecord {
				t.Errorf("isDMARCRecord = %v, want %v", got, tt.isRecord)
			}
			if !tt.isRecord {
				return
			}
			rec, err := parseDMARC(tt.txt)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err != nil {
				return
			}
			if rec.Policy != tt.p || rec.SubdomainPolicy != tt.sp || rec.DKIMAlignment != tt.adkim {
				t.Errorf("p=%q sp=%q adkim=%q, want %q %q %q", rec.Policy, rec.SubdomainPolicy, rec.DKIMAlignment, tt.p, tt.sp, tt.adkim)
			}
			if (rec.Percent == nil) != (tt.percent == nil) || rec.Percent != nil && *rec.Percent != *tt.percent {
				t.Errorf("pct = %v, want %v", rec.Percent, tt.percent)
			}
		})
	}
}

func FuzzParseDMARC(f *testing.F) {
	for _, s := range []string{"v=DMARC1; p=reject", "v=DMARC1; p=Reject; sp=none; pct=50; rua=mailto:a@b", "v=DMARC1;;;=;p", "v=DMARC1; p=x; rua=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, txt string) {
		rec, err := parseDMARC(txt)
		if err != nil {
			return
		}
		switch rec.Policy {
		case dmarc.PolicyNone, dmarc.PolicyQuarantine, dmarc.PolicyReject:
		default:
			t.Errorf("%q: policy %q", txt, rec.Policy)
		}
		if rec.Percent != nil && (*rec.Percent < 0 || *rec.Percent > 100) {
			t.Errorf("%q: pct %d", txt, *rec.Percent)
		}
	})
}
