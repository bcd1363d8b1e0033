package spam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/yubinmail/yubin/filters"
)

// fakeResolver answers DNSBL queries from a table and records them.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]string
	queries []string
}

func (r *fakeResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries = append(r.queries, host)
	if a, ok := r.answers[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func TestDNSBL(t *testing.T) {
	res := &fakeResolver{answers: map[string][]string{
		"5.113.0.203.bl.example":    {"127.0.0.2"},
		"5.113.0.203.other.example": {"127.0.0.4", "127.0.0.10"},
		"5.113.0.203.odd.example":   {"10.0.0.1", "127.0.1.1"}, // not a listing
	}}
	f := New(Options{DNSBLs: []string{"bl.example", "other.example.", "odd.example", "clean.example"}, Resolver: res})
	msg := newTestMessage(crlf(cleanHeader + "\nhello\n"))
	r, err := f.Score(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if got := hitCounts(r.Hits); got[RuleDNSBL] != 2 || len(got) != 1 || r.Score != 6 {
		t.Fatalf("hits %v, score %v", describe(r.Hits), r.Score)
	}
	slices.Sort(res.queries)
	want := []string{"5.113.0.203.bl.example", "5.113.0.203.clean.example", "5.113.0.203.odd.example", "5.113.0.203.other.example"}
	if !slices.Equal(res.queries, want) {
		t.Fatalf("queries = %v", res.queries)
	}

	for name, conn := range map[string]filters.ConnInfo{
		"authenticated": {RemoteAddr: netip.MustParseAddrPort("203.0.113.5:1"), AuthUser: "ann@example.com"},
		"private":       {RemoteAddr: netip.MustParseAddrPort("192.168.1.5:1")},
		"loopback":      {RemoteAddr: netip.MustParseAddrPort("127.0.0.1:1")},
		"ipv6":          {RemoteAddr: netip.MustParseAddrPort("[2001:db8::5]:1")},
		"unknown":       {},
	} {
		res.queries = nil
		m := newTestMessage(crlf(cleanHeader + "\nhello\n"))
		m.Conn = conn
		r, err := f.Score(context.Background(), m)
		if err != nil || len(r.Hits) != 0 || len(res.queries) != 0 {
			t.Errorf("%s: hits %v, queries %v, err %v", name, r.Hits, res.queries, err)
		}
	}
	// IPv4-mapped IPv6 addresses are looked up as IPv4.
	if q := dnsblQuery(netip.MustParseAddr("::ffff:198.51.100.7"), "bl.example"); q != "7.100.51.198.bl.example" {
		t.Errorf("mapped query = %q", q)
	}
}

func headerValue(v filters.Verdict, key string) string {
	for _, h := range v.AddHeaders {
		if h.Key == key {
			return h.Value
		}
	}
	return ""
}

func TestFilterVerdicts(t *testing.T) {
	ctx := context.Background()
	clean := cleanHeader + "Content-Type: text/plain\n\nhello\n"
	junk := without("Date", "Message-ID") + "Authentication-Results: mx.example.com; spf=fail smtp.mailfrom=example.net\n" +
		"Content-Type: text/html\n\n<p>hi</p>\n" // 1 + 1 + 2 + 1 = 5.0
	reject := withAttachment(without("Date", "Message-ID", "Subject")+"Subject: OPEN THE ATTACHMENT NOW\n"+
		"Authentication-Results: mx.example.com; spf=fail; dkim=fail; dmarc=fail\n", "x.exe", "application/octet-stream", []byte("MZ"))
	// 1 + 1 + 1.5 + 5 + 2 + 1.5 + 3 = 15.0
	tests := []struct {
		name       string
		opts       Options
		raw        string
		wantAction filters.Action
		wantScore  string
		wantStatus string
	}{
		{"clean", DefaultOptions(), clean, filters.Accept, "0.0", "No, score=0.0 required=5.0 tests=none"},
		{"junk at threshold", DefaultOptions(), junk, filters.Junk, "5.0", "Yes, score=5.0 required=5.0 tests=MISSING_DATE,MISSING_MID,HTML_ONLY,SPF_FAIL"},
		{"below a higher threshold", Options{JunkScore: 6}, junk, filters.Accept, "5.0", "No, score=5.0 required=6.0 tests=MISSING_DATE,MISSING_MID,HTML_ONLY,SPF_FAIL"},
		{"reject at threshold", DefaultOptions(), reject, filters.Reject, "15.0",
			"Yes, score=15.0 required=5.0 tests=MISSING_DATE,MISSING_MID,SUBJ_ALL_CAPS,BAD_ATTACHMENT,SPF_FAIL,DKIM_FAIL,DMARC_FAIL"},
		{"never reject", Options{}, reject, filters.Junk, "15.0",
			"Yes, score=15.0 required=5.0 tests=MISSING_DATE,MISSING_MID,SUBJ_ALL_CAPS,BAD_ATTACHMENT,SPF_FAIL,DKIM_FAIL,DMARC_FAIL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New(tt.opts)
			if f.Name() != "spam" {
				t.Fatalf("Name() = %q", f.Name())
			}
			v, err := f.Check(ctx, newTestMessage(crlf(tt.raw)))
			if err != nil {
				t.Fatal(err)
			}
			if v.Action != tt.wantAction {
				t.Errorf("action = %v, want %v (%+v)", v.Action, tt.wantAction, v)
			}
			if got := headerValue(v, "X-Spam-Score"); got != tt.wantScore {
				t.Errorf("X-Spam-Score = %q, want %q", got, tt.wantScore)
			}
			if got := headerValue(v, "X-Spam-Status"); got != tt.wantStatus {
				t.Errorf("X-Spam-Status = %q, want %q", got, tt.wantStatus)
			}
			if !v.RemovesHeader("x-spam-status") || !v.RemovesHeader("X-Spam-Score") {
				t.Errorf("forged spam headers not removed: %v", v.RemoveHeaders)
			}
			if v.Action == filters.Reject && (v.Code != 550 || v.EnhancedCode != [3]int{5, 7, 1} || v.Reason != "message looks like spam") {
				t.Errorf("reject reply = %d %v %q", v.Code, v.EnhancedCode, v.Reason)
			}
			var sum float64
			for _, e := range v.Evidence {
				if e.Filter != "spam" || e.Result == "" || e.Detail == "" {
					t.Errorf("bad evidence %+v", e)
				}
				sum += e.Score
			}
			if got := fmt.Sprintf("%.1f", sum); got != tt.wantScore {
				t.Errorf("evidence scores add up to %v, want %s", sum, got)
			}
		})
	}
}

func TestFilterWithBayes(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	c := NewClassifier(NewMemoryTokenStore())
	trainCorpus(t, c, r, 25)
	f := New(Options{JunkScore: 5, RejectScore: 15, Classifier: c})

	// Spam words alone in an otherwise clean message: about +5.
	v, err := f.Check(ctx, newTestMessage(corpusMessage(r, true)))
	if err != nil {
		t.Fatal(err)
	}
	status := headerValue(v, "X-Spam-Status")
	if v.Action != filters.Junk || !strings.HasPrefix(status, "Yes, ") || !strings.Contains(status, "tests=BAYES_99") {
		t.Fatalf("spam: %v, %q", v.Action, status)
	}
	if i := slices.IndexFunc(v.Evidence, func(e filters.Evidence) bool { return e.Result == "BAYES_99" }); i < 0 || v.Evidence[i].Score < 4.9 {
		t.Fatalf("evidence %+v", v.Evidence)
	}
	// Ham: about -5, which offsets rule hits.
	ham := strings.Replace(corpusMessage(r, false), "Date: ", "X-Old-Date: ", 1)
	v, err = f.Check(ctx, newTestMessage(ham))
	if err != nil {
		t.Fatal(err)
	}
	status = headerValue(v, "X-Spam-Status")
	if v.Action != filters.Accept || !strings.HasPrefix(status, "No, score=-4.") || !strings.Contains(status, "tests=MISSING_DATE,BAYES_00") {
		t.Fatalf("ham: %v, %q", v.Action, status)
	}

	// An untrained classifier adds nothing.
	f = New(Options{Classifier: NewClassifier(NewMemoryTokenStore())})
	v, _ = f.Check(ctx, newTestMessage(corpusMessage(r, true)))
	if got := headerValue(v, "X-Spam-Status"); got != "No, score=0.0 required=5.0 tests=none" {
		t.Fatalf("untrained: %q", got)
	}
}

// failingStore fails every call.
type failingStore struct{}

func (failingStore) Counts(context.Context, []string) (map[string]TokenCount, int64, int64, error) {
	return nil, 0, 0, errors.New("database down")
}
func (failingStore) Learn(context.Context, []string, bool, int) error {
	return errors.New("database down")
}

func TestFilterFailures(t *testing.T) {
	ctx := context.Background()
	f := New(Options{Classifier: NewClassifier(failingStore{})})
	raw := crlf(without("Date") + "\nhi\n")
	v, err := f.Check(ctx, newTestMessage(raw))
	if err != nil {
		t.Fatalf("a failing classifier failed the filter: %v", err)
	}
	if headerValue(v, "X-Spam-Score") != "1.0" || !slices.ContainsFunc(v.Evidence, func(e filters.Evidence) bool {
		return e.Result == "error" && strings.Contains(e.Detail, "database down")
	}) {
		t.Fatalf("verdict %+v", v)
	}
	if err := NewClassifier(failingStore{}).Train(ctx, strings.NewReader(raw), true); err == nil {
		t.Fatal("Train did not report the store's failure")
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.Check(cctx, newTestMessage(raw)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled check: %v", err)
	}

	// A message whose reader fails is scored on its header.
	msg := newTestMessage(raw)
	msg.Open = func() io.Reader { return iotest.ErrReader(errors.New("disk error")) }
	if v, err := New(Options{}).Check(ctx, msg); err != nil || headerValue(v, "X-Spam-Score") != "1.0" {
		t.Fatalf("unreadable message: %+v, %v", v, err)
	}
}

// TestFilterInChain runs the filter in a chain, which validates its header
// fields and evidence.
func TestFilterInChain(t *testing.T) {
	chain := filters.NewChain(nil, filters.Stage{Filter: New(DefaultOptions()), Enabled: true})
	raw := crlf("Subject: WIN A FREE CRUISE TODAY\nX-Spam-Status: No, forged\n" +
		"Content-Type: text/html\n\n<a href=\"http://198.51.100.1/\">www.cruises.example</a>")
	v := chain.Check(context.Background(), newTestMessage(raw))
	// 1 + 1 + 2 + 1 + 1.5 + 1.5 = 8.0
	if v.Action != filters.Junk || headerValue(v, "X-Spam-Score") != "8.0" || len(v.AddHeaders) != 2 || !v.RemovesHeader("X-Spam-Status") {
		t.Fatalf("chain verdict %+v", v)
	}
	if got := chain.Stats()["spam"][filters.Junk]; got != 1 {
		t.Fatalf("stats: %d junk", got)
	}
}

func TestFilterConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	c := NewClassifier(NewMemoryTokenStore())
	trainCorpus(t, c, r, 20)
	f := New(Options{Classifier: c})
	var msgs []string
	for i := range 16 {
		msgs = append(msgs, corpusMessage(r, i%2 == 0))
	}
	var wg sync.WaitGroup
	for i, raw := range msgs {
		wg.Go(func() {
			v, err := f.Check(context.Background(), newTestMessage(raw))
			if err != nil {
				t.Error(err)
				return
			}
			if want := i%2 == 0; (v.Action == filters.Junk) != want {
				t.Errorf("message %d: %v", i, v.Action)
			}
			if err := c.Train(context.Background(), strings.NewReader(raw), i%2 == 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
