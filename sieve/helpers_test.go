package sieve

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// testEnv is an Environment over maps, with a fixed clock.
type testEnv struct {
	mailboxes map[string]bool
	replied   map[string]time.Time // handle + "\x00" + sender
	now       time.Time
}

func newTestEnv() *testEnv {
	return &testEnv{
		mailboxes: map[string]bool{"INBOX": true, "Partners": true},
		replied:   map[string]time.Time{},
		now:       time.Date(2026, 12, 7, 9, 30, 0, 0, time.FixedZone("JST", 9*3600)),
	}
}

func (e *testEnv) MailboxExists(_ context.Context, name string) (bool, error) {
	return e.mailboxes[name], nil
}

func (e *testEnv) VacationSeen(_ context.Context, handle, sender string, period time.Duration) (bool, error) {
	at, ok := e.replied[handle+"\x00"+sender]
	return ok && e.now.Sub(at) < period, nil
}

func (e *testEnv) Now() time.Time { return e.now }

// record stores the vacation replies of a result, as the caller would.
func (e *testEnv) record(res *Result) {
	for _, a := range res.Actions {
		if a.Kind == ActionVacation {
			e.replied[a.Vacation.Handle+"\x00"+a.Vacation.To] = e.now
		}
	}
}

// testMessage builds a Message from a text with LF line ends.
func testMessage(raw, from, to string) *Message {
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	hdr, body := raw, ""
	if i := strings.Index(raw, "\r\n\r\n"); i >= 0 {
		hdr, body = raw[:i+2], raw[i+4:]
	}
	return &Message{Header: []byte(hdr), Body: strings.NewReader(body), Size: int64(len(raw)),
		EnvelopeFrom: from, EnvelopeTo: to}
}

var defaultOpts = RunOptions{UserAddresses: []string{"me@example.com"}, SubaddressDelimiter: "+", Hostname: "mx.example.com"}

// run compiles and runs a script, failing the test on any error.
func runScript(t *testing.T, env *testEnv, script string, msg *Message) *Result {
	t.Helper()
	s, err := Compile(script, Limits{})
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, script)
	}
	res, err := s.Run(context.Background(), msg, env, defaultOpts)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

// summary writes actions in a compact form, e.g.
// "fileinto:Big messages[\Flagged Big] keep*".
func summary(res *Result) string {
	var parts []string
	for _, a := range res.Actions {
		var b bytes.Buffer
		b.WriteString(a.Kind.String())
		switch a.Kind {
		case ActionFileInto:
			b.WriteString(":" + a.Mailbox)
		case ActionRedirect:
			b.WriteString(":" + a.Address)
		case ActionReject:
			b.WriteString(":" + a.Reason)
		case ActionVacation:
			b.WriteString(":" + a.Vacation.To)
		}
		if a.Copy {
			b.WriteString("(copy)")
		}
		if a.Create {
			b.WriteString("(create)")
		}
		if len(a.Flags) > 0 {
			b.WriteString("[" + strings.Join(a.Flags, " ") + "]")
		}
		if a.Implicit {
			b.WriteString("*")
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, " ")
}

// scriptCase is a script run against a message, with the expected
// actions.
type scriptCase struct {
	name   string
	script string
	msg    string
	from   string // envelope sender; "-" for the null sender
	to     string
	want   string
}

func runCases(t *testing.T, cases []scriptCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			from, to := c.from, c.to
			if from == "" {
				from = "sender@example.org"
			} else if from == "-" {
				from = ""
			}
			if to == "" {
				to = "me@example.com"
			}
			res := runScript(t, newTestEnv(), c.script, testMessage(c.msg, from, to))
			if got := summary(res); got != c.want {
				t.Errorf("actions = %q, want %q", got, c.want)
			}
		})
	}
}
