package main

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/internal/config"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

// TestFilterChainFollowsConfig builds the inbound chain from YUBIN_FILTERS
// and the scanners' addresses, and runs a message through the empty one.
func TestFilterChainFollowsConfig(t *testing.T) {
	ctx := context.Background()
	store, err := mailstore.Open(ctx, mailstore.Options{Dir: t.TempDir(), Database: mailstoretest.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"default", nil, []string{"authn", "spam"}},
		{"default with the scanners", map[string]string{
			"YUBIN_CLAMD": "unix:/nonexistent/clamd.sock", "YUBIN_MILTER": "127.0.0.1:1", "YUBIN_RSPAMD": "http://127.0.0.1:1",
		}, []string{"authn", "clamd", "milter", "rspamd", "spam"}},
		{"reordered", map[string]string{"YUBIN_FILTERS": "clamd,spam,authn", "YUBIN_CLAMD": "127.0.0.1:1"}, []string{"clamd", "spam", "authn"}},
		{"spam only", map[string]string{"YUBIN_FILTERS": "spam"}, []string{"spam"}},
		{"none", map[string]string{"YUBIN_FILTERS": "none"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := config.NewLoader("serve")
			l.SetHostnameFunc(func() (string, error) { return "mx.example.test", nil })
			cfg, err := l.Load(nil, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			w := &wiring{cfg: cfg, log: slog.New(slog.DiscardHandler), store: store}
			c := w.newFilterChain()
			if got := c.Stages(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("stages %q, want %q", got, tt.want)
			}
			if len(tt.want) > 0 {
				return
			}
			msg := "From: a@remote.example\r\nSubject: hi\r\n\r\nhello\r\n"
			v := c.Check(ctx, &filters.Message{
				Envelope: filters.Envelope{MailFrom: "a@remote.example", Recipients: []string{"ann@example.test"}},
				Size:     int64(len(msg)),
				Open:     func() io.Reader { return strings.NewReader(msg) },
			})
			if v.Action != filters.Accept || len(v.AddHeaders) != 0 || len(v.Evidence) != 0 {
				t.Errorf("empty chain: %+v, want a plain accept", v)
			}
		})
	}
}
