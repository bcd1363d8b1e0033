package spam

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/filters/rspamd"
)

// TestRspamdScoreAdded runs rspamd (a fake one, over HTTP) and the spam
// filter in a chain: rspamd's score, weighted, is added to the spam score
// and shown in X-Spam-Status; an X-Rspamd-Score field the message came with
// counts for nothing.
func TestRspamdScoreAdded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"action":"no action","score":9.0,"required_score":15}`)
	}))
	t.Cleanup(srv.Close)
	clean := crlf(cleanHeader + "X-Rspamd-Score: 99.00\nContent-Type: text/plain\n\nhello\n")
	tests := []struct {
		name       string
		weight     float64
		withRspamd bool
		wantAction filters.Action
		wantScore  string
		wantStatus string
	}{
		{"default weight", 0, true, filters.Junk, "9.0", "Yes, score=9.0 required=5.0 tests=RSPAMD rspamd=9.00"},
		{"half weight", 0.5, true, filters.Accept, "4.5", "No, score=4.5 required=5.0 tests=RSPAMD rspamd=9.00"},
		{"left out", -1, true, filters.Accept, "0.0", "No, score=0.0 required=5.0 tests=none"},
		{"no rspamd stage: the header is not trusted", 0, false, filters.Accept, "0.0", "No, score=0.0 required=5.0 tests=none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.RspamdWeight = tt.weight
			var stages []filters.Stage
			if tt.withRspamd {
				stages = append(stages, filters.Stage{Filter: rspamd.NewFilter(&rspamd.Client{URL: srv.URL}), Enabled: true})
			}
			stages = append(stages, filters.Stage{Filter: New(opts), Enabled: true})
			v := filters.NewChain(nil, stages...).Check(context.Background(), newTestMessage(clean))
			if v.Action != tt.wantAction {
				t.Errorf("action %v, want %v", v.Action, tt.wantAction)
			}
			if got := headerValue(v, "X-Spam-Score"); got != tt.wantScore {
				t.Errorf("X-Spam-Score %q, want %q", got, tt.wantScore)
			}
			if got := headerValue(v, "X-Spam-Status"); got != tt.wantStatus {
				t.Errorf("X-Spam-Status %q, want %q", got, tt.wantStatus)
			}
		})
	}
}
