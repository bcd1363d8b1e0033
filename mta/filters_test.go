package mta

import (
	"context"
	"errors"
	"fmt"
	"github.com/yubinmail/yubin/mailstore"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/filters"
)

type filterMessage = filters.Message

// checkFunc is a filters.Filter made of a function.
type checkFunc func(ctx context.Context, m *filters.Message) (filters.Verdict, error)

func (f checkFunc) Name() string { return "fake" }

func (f checkFunc) Check(ctx context.Context, m *filters.Message) (filters.Verdict, error) {
	return f(ctx, m)
}

// senderFunc is a filters.Filter that also checks senders.
type senderFunc func(ctx context.Context, conn filters.ConnInfo, from string) (filters.Verdict, error)

func (f senderFunc) Name() string { return "fake-sender" }

func (f senderFunc) Check(context.Context, *filters.Message) (filters.Verdict, error) {
	return filters.Verdict{}, nil
}

func (f senderFunc) CheckSender(ctx context.Context, conn filters.ConnInfo, from string) (filters.Verdict, error) {
	return f(ctx, conn, from)
}

// acceptAll is a chain without filters: everything is accepted, and no
// test depends on DNS.
func acceptAll() *filters.Chain { return filters.NewChain(nil) }

// fakeChain is a chain of one filter.
func fakeChain(tb testing.TB, f filters.Filter) *filters.Chain {
	tb.Helper()
	return filters.NewChain(nil, filters.Stage{Filter: f, Enabled: true})
}

func acceptVerdict() filters.Verdict { return filters.Verdict{} }

// verdictFunc returns a filter that calls see, then returns v.
func verdictFunc(see func(*filters.Message), v filters.Verdict) checkFunc {
	return func(_ context.Context, m *filters.Message) (filters.Verdict, error) {
		if see != nil {
			see(m)
		}
		return v, nil
	}
}

func TestFilterVerdicts(t *testing.T) {
	msg := "From: someone@remote.example\r\n" +
		"X-Spam-Flag: YES\r\n" +
		"Authentication-Results: " + testHost + "; dkim=pass (forged)\r\n" +
		"\tcontinued=forged\r\n" +
		"Subject: verdicts\r\n" +
		"authentication-results: " + testHost + "; spf=pass (forged, lower case)\r\n" +
		"\r\n" +
		"X-Spam-Flag: in the body, not a header\r\n"
	tests := []struct {
		name     string
		verdict  filters.Verdict
		code     int
		enh      smtp.EnhancedCode
		text     string
		mailbox  string // where ann finds it; "" if nowhere
		wantBody string // after Received and the added fields
	}{
		{
			name:    "reject with the filter's reply",
			verdict: filters.Verdict{Action: filters.Reject, Code: 554, EnhancedCode: [3]int{5, 7, 9}, Reason: "Spam score 42"},
			code:    554, enh: smtp.EnhancedCode{5, 7, 9}, text: "Spam score 42",
		},
		{
			name:    "reject with defaults",
			verdict: filters.Verdict{Action: filters.Reject},
			code:    550, enh: smtp.EnhancedCode{5, 7, 1},
		},
		{
			name:    "tempfail",
			verdict: filters.Verdict{Action: filters.TempFail, Reason: "greylisted"},
			code:    451, enh: smtp.EnhancedCode{4, 7, 1}, text: "greylisted",
		},
		{
			name:    "accept",
			verdict: filters.Verdict{},
			code:    250, mailbox: "INBOX", wantBody: msg,
		},
		{
			name:    "junk",
			verdict: filters.Verdict{Action: filters.Junk, Reason: "spammy"},
			code:    250, mailbox: "Junk", wantBody: msg,
		},
		{
			name:    "quarantine holds the message for an admin",
			verdict: filters.Verdict{Action: filters.Quarantine, Reason: "suspicious attachment"},
			code:    250, mailbox: "quarantine", wantBody: msg,
		},
		{
			name: "headers added and removed",
			verdict: filters.Verdict{
				AddHeaders: []filters.HeaderField{
					{Key: "Authentication-Results", Value: testHost + "; spf=pass smtp.mailfrom=remote.example"},
					{Key: "X-Spam-Status", Value: "No, score=" + strings.Repeat("1.0 ", 30)},
				},
				RemoveHeaders: []string{"Authentication-Results", "x-spam-flag"},
			},
			code: 250, mailbox: "INBOX",
			wantBody: "From: someone@remote.example\r\n" +
				"Subject: verdicts\r\n" +
				"\r\n" +
				"X-Spam-Flag: in the body, not a header\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen *filters.Message
			var raw []byte
			ts := startServer(t, func(o *Options) {
				o.Filters = fakeChain(t, verdictFunc(func(m *filters.Message) {
					seen = m
					raw, _ = io.ReadAll(m.Open())
				}, tt.verdict))
			})
			_, err := ts.send(t, "someone@remote.example", []string{ann, bob}, msg)
			if tt.code != 250 {
				wantCode(t, err, tt.code, tt.enh)
				if tt.text != "" && !strings.Contains(err.Error(), tt.text) {
					t.Errorf("reply %q lacks %q", err, tt.text)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if seen == nil {
				t.Fatal("filter not called")
			}
			if seen.Header.Get("Subject") != "verdicts" || seen.Size != int64(len(msg)) ||
				seen.Envelope.MailFrom != "someone@remote.example" || strings.Join(seen.Envelope.Recipients, ",") != ann+","+bob ||
				seen.Conn.HELO != "client.test.example" || seen.Conn.RemoteAddr.Addr().String() != "127.0.0.1" || seen.Conn.Hostname != testHost {
				t.Errorf("filter saw %+v", seen)
			}
			if string(raw) != msg {
				t.Errorf("Open gave %q", raw)
			}
			if tt.mailbox == "quarantine" {
				held, err := ts.store.ListQuarantine(context.Background(), mailstore.QuarantineFilter{})
				if err != nil || len(held) != 1 || held[0].Reason != "suspicious attachment" {
					t.Fatalf("quarantine holds %+v (%v), want the message", held, err)
				}
				rc, err := ts.store.OpenQuarantined(context.Background(), held[0].ID)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(rc)
				rc.Close()
				if _, rest := splitReceived(t, string(b)); rest != msg {
					t.Errorf("held message %q, want %q after Received", rest, msg)
				}
			}
			for _, mb := range []string{"INBOX", "Junk"} {
				got := messages(t, ts.store, ann, mb)
				if mb != tt.mailbox {
					if len(got) != 0 {
						t.Errorf("%s has %d messages", mb, len(got))
					}
					continue
				}
				if len(got) != 1 {
					t.Fatalf("%s has %d messages, want 1", mb, len(got))
				}
				_, rest := splitReceived(t, got[0])
				for _, f := range tt.verdict.AddHeaders {
					line, _ := formatField(f.Key, f.Value)
					if !strings.HasPrefix(rest, line) {
						t.Fatalf("added field %q missing or out of order in %q", line, rest)
					}
					rest = rest[len(line):]
				}
				if rest != tt.wantBody {
					t.Errorf("stored\n%q\nwant\n%q", rest, tt.wantBody)
				}
			}
		})
	}
}

func TestAddedFieldsAreFolded(t *testing.T) {
	ts := startServer(t, func(o *Options) {
		o.Filters = fakeChain(t, verdictFunc(nil, filters.Verdict{AddHeaders: []filters.HeaderField{
			{Key: "X-Long", Value: strings.Repeat("word ", 100)},
		}}))
	})
	if _, err := ts.send(t, "someone@remote.example", []string{ann}, simpleMsg("fold")); err != nil {
		t.Fatal(err)
	}
	_, rest := splitReceived(t, messages(t, ts.store, ann, "INBOX")[0])
	field := rest[:strings.Index(rest, "From:")]
	lines := strings.Split(strings.TrimSuffix(field, "\r\n"), "\r\n")
	if len(lines) < 6 || !strings.HasPrefix(lines[0], "X-Long: word") {
		t.Fatalf("field not folded: %q", field)
	}
	for _, l := range lines {
		if len(l) > foldWidth {
			t.Errorf("line of %d characters: %q", len(l), l)
		}
	}
}

// TestFilterSeesEveryFieldOfABrokenHeader: a line that is no field
// must not hide the fields after it from the filters (a reader's program
// may show them), and the message is stored as it came.
func TestFilterSeesEveryFieldOfABrokenHeader(t *testing.T) {
	var seen *filters.Message
	ts := startServer(t, func(o *Options) {
		o.Filters = fakeChain(t, verdictFunc(func(m *filters.Message) { seen = m }, acceptVerdict()))
	})
	msg := "Subject: fine\r\nthis line is broken\r\nFrom: x@remote.example\r\n\r\nbody\r\n"
	if _, err := ts.send(t, "someone@remote.example", []string{ann}, msg); err != nil {
		t.Fatal(err)
	}
	if seen.Header.Len() != 2 || seen.Header.Get("From") != "x@remote.example" {
		t.Errorf("filter saw %v of a broken header", seen.Header.Map())
	}
	_, rest := splitReceived(t, messages(t, ts.store, ann, "INBOX")[0])
	if rest != msg {
		t.Errorf("stored %q", rest)
	}
}

func TestFilterPanicTempfails(t *testing.T) {
	ts := startServer(t, func(o *Options) {
		o.Filters = fakeChain(t, checkFunc(func(context.Context, *filters.Message) (filters.Verdict, error) { panic("filter bug") }))
	})
	_, err := ts.send(t, "someone@remote.example", []string{ann}, simpleMsg("p"))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 {
		t.Fatalf("got %v, want 451", err)
	}
}

func TestCheckSender(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ts := startServer(t, func(o *Options) {
		o.Filters = fakeChain(t, senderFunc(func(_ context.Context, conn filters.ConnInfo, from string) (filters.Verdict, error) {
			mu.Lock()
			got = append(got, fmt.Sprintf("%s|%s", conn.HELO, from))
			mu.Unlock()
			switch from {
			case "spammer@bad.example":
				return filters.Verdict{Action: filters.Reject, Code: 550, EnhancedCode: [3]int{5, 7, 23}, Reason: "SPF fail"}, nil
			case "later@slow.example":
				return filters.Verdict{Action: filters.TempFail, Reason: "DNS timeout"}, nil
			}
			return filters.Verdict{}, nil
		}))
	})
	c := ts.dial(t)
	err := c.Mail("spammer@bad.example", nil)
	wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 23})
	if !strings.Contains(err.Error(), "SPF fail") {
		t.Errorf("reply %v", err)
	}
	wantCode(t, c.Mail("later@slow.example", nil), 451, smtp.EnhancedCode{4, 7, 1})
	if err := c.Mail("", nil); err != nil {
		t.Fatalf("null sender: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "client.test.example|spammer@bad.example,client.test.example|later@slow.example,client.test.example|" {
		t.Errorf("CheckSender calls: %q", got)
	}
	if st := ts.Stats(); st.Rejected[RejectSender] != 1 || st.TempFailed != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestJunkCounted(t *testing.T) {
	ts := startServer(t, func(o *Options) {
		o.Filters = fakeChain(t, verdictFunc(nil, filters.Verdict{Action: filters.Junk}))
	})
	if _, err := ts.send(t, "someone@remote.example", []string{ann}, simpleMsg("j")); err != nil {
		t.Fatal(err)
	}
	if st := ts.Stats(); st.Accepted != 1 || st.Junk != 1 {
		t.Errorf("stats %+v", st)
	}
}
