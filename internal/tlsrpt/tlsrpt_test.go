package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
	"time"
)

// rfcReport is the example report of RFC 8460 Appendix B, shortened.
const rfcReport = `{
  "organization-name": "Company-X",
  "date-range": {"start-datetime": "2016-04-01T00:00:00Z", "end-datetime": "2016-04-01T23:59:59Z"},
  "contact-info": "sts-reporting@company-x.example",
  "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
  "policies": [{
    "policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: testing", "mx: *.mail.company-y.example", "max_age: 86400"],
      "policy-domain": "company-y.example", "mx-host": ["*.mail.company-y.example"]},
    "summary": {"total-successful-session-count": 5326, "total-failure-session-count": 303},
    "failure-details": [{"result-type": "certificate-expired", "sending-mta-ip": "2001:db8:abcd:0012::1",
      "receiving-mx-hostname": "mx1.mail.company-y.example", "failed-session-count": 100}]
  }]
}`

func TestParse(t *testing.T) {
	r, err := Parse([]byte(rfcReport))
	if err != nil {
		t.Fatal(err)
	}
	if r.OrganizationName != "Company-X" || r.Policies[0].Summary.Failed != 303 || strings.Join(r.Domains(), ",") != "company-y.example" {
		t.Fatalf("%+v", r)
	}
	for name, bad := range map[string]string{
		"not JSON":       "{",
		"no org":         strings.Replace(rfcReport, `"Company-X"`, `""`, 1),
		"no id":          strings.Replace(rfcReport, `"5065427c-23d3-47ca-b6e0-946ea0e8c4be"`, `""`, 1),
		"no policies":    strings.Replace(rfcReport, `"policies": [`, `"policies": [], "x": [`, 1),
		"bad type":       strings.Replace(rfcReport, `"policy-type": "sts"`, `"policy-type": "dane"`, 1),
		"no domain":      strings.Replace(rfcReport, `"company-y.example", "mx-host"`, `"", "mx-host"`, 1),
		"negative count": strings.Replace(rfcReport, `5326`, `-1`, 1),
		"dates reversed": strings.Replace(rfcReport, `"2016-04-01T23:59:59Z"`, `"2016-03-01T00:00:00Z"`, 1),
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDecode(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(rfcReport))
	zw.Close()
	for _, tc := range []struct {
		media string
		body  []byte
	}{{MediaJSON, []byte(rfcReport)}, {MediaGzip, buf.Bytes()}} {
		got, err := Decode(tc.media, tc.body)
		if err != nil || string(got) != rfcReport {
			t.Errorf("%s: %v", tc.media, err)
		}
	}
	if _, err := Decode("application/json", []byte(rfcReport)); err == nil {
		t.Error("another media type accepted")
	}
	if _, err := Decode(MediaGzip, []byte(rfcReport)); err == nil {
		t.Error("plain JSON accepted as gzip")
	}
	var bomb bytes.Buffer
	zw = gzip.NewWriter(&bomb)
	zw.Write(bytes.Repeat([]byte(" "), MaxReportBytes+10))
	zw.Close()
	if _, err := Decode(MediaGzip, bomb.Bytes()); err == nil {
		t.Error("a report over the limit accepted")
	}
}

func TestStore(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.max = 3
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 5 {
		id, err := s.Add([]byte(rfcReport), "192.0.2.1", now.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	got, err := s.List(10)
	if err != nil || len(got) != 3 {
		t.Fatalf("kept %d: %v", len(got), err)
	}
	if got[0].ID != ids[4] || got[2].ID != ids[2] || got[0].RemoteIP != "192.0.2.1" {
		t.Fatalf("order %v", []string{got[0].ID, got[1].ID, got[2].ID})
	}
	if r, err := Parse(got[0].Report); err != nil || r.ReportID == "" {
		t.Fatalf("kept report: %v", err)
	}
	if got, _ := s.List(1); len(got) != 1 {
		t.Fatal("limit")
	}
}

// FuzzParse: no input makes Parse panic; what it accepts has a policy
// domain for every policy.
func FuzzParse(f *testing.F) {
	f.Add([]byte(rfcReport))
	f.Add([]byte(`{"policies":[{}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			return
		}
		if len(r.Domains()) == 0 {
			t.Fatal("accepted without a policy domain")
		}
	})
}
