package rules

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/sieve"
)

type env struct{ now time.Time }

func (e env) MailboxExists(context.Context, string) (bool, error) { return true, nil }
func (e env) VacationSeen(context.Context, string, string, time.Duration) (bool, error) {
	return false, nil
}
func (e env) Now() time.Time { return e.now }

var sample = RuleSet{
	Away: &Away{Subject: "Away until Monday", Message: "I'm away until Monday.\n\"Quotes\" and \\ backslashes survive.", Start: "2026-12-05", End: "2026-12-13", Days: 3},
	Rules: []Rule{
		{Name: "Invoices", Conditions: []Condition{{FieldSubject, "invoice"}, {FieldSubject, "請求書"}}, Actions: []Action{{Kind: ActionMove, Folder: "Invoices"}}, Stop: true},
		{Name: "News", Conditions: []Condition{{FieldFrom, "news@"}}, Actions: []Action{{Kind: ActionMarkRead}, {Kind: ActionMove, Folder: "News/Weekly"}}},
		{Conditions: []Condition{{FieldTo, "sales@"}, {FieldFrom, "@partner.example"}}, MatchAll: true, Actions: []Action{{Kind: ActionForward, Address: "boss@example.net", KeepCopy: true}}},
		{Conditions: []Condition{{FieldFrom, "spammer@"}}, Actions: []Action{{Kind: ActionDelete}}},
	},
}

func run(t *testing.T, script, msg string, now time.Time) string {
	t.Helper()
	s, err := sieve.Compile(script, sieve.Limits{})
	if err != nil {
		t.Fatalf("generated script does not compile: %v\n%s", err, script)
	}
	msg = strings.ReplaceAll(msg, "\n", "\r\n")
	hdr, body, _ := strings.Cut(msg, "\r\n\r\n")
	res, err := s.Run(context.Background(), &sieve.Message{Header: []byte(hdr + "\r\n"), Body: strings.NewReader(body), EnvelopeFrom: "a@sender.example", EnvelopeTo: "me@example.com"},
		env{now}, sieve.RunOptions{UserAddresses: []string{"me@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range res.Actions {
		s := a.Kind.String()
		switch a.Kind {
		case sieve.ActionFileInto:
			s += ":" + a.Mailbox
		case sieve.ActionRedirect:
			s += ":" + a.Address
		case sieve.ActionVacation:
			s += ":" + a.Vacation.Subject
		}
		if len(a.Flags) > 0 {
			s += "[" + strings.Join(a.Flags, " ") + "]"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestGenerateRuns(t *testing.T) {
	script, err := Generate(sample)
	if err != nil {
		t.Fatal(err)
	}
	away := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	back := time.Date(2026, 12, 14, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		msg  string
		now  time.Time
		want string
	}{
		{"From: a@sender.example\nTo: me@example.com\nSubject: Your invoice\n\nx", back, "fileinto:Invoices"},
		{"From: a@sender.example\nTo: me@example.com\nSubject: =?utf-8?B?6KuL5rGC5pu4?=\n\nx", away, "vacation:Away until Monday fileinto:Invoices"},
		{"From: News <news@list.example>\nTo: me@example.com\nSubject: hi\n\nx", back, `fileinto:News/Weekly[\Seen]`},
		{"From: x@partner.example\nTo: sales@example.com\nSubject: hi\n\nx", back, "redirect:boss@example.net keep"},
		{"From: x@partner.example\nTo: other@example.com\nSubject: hi\n\nx", back, "keep"},
		{"From: spammer@bad.example\nTo: me@example.com\nSubject: hi\n\nx", back, "discard"},
	}
	for _, c := range cases {
		if got := run(t, script, c.msg, c.now); got != c.want {
			t.Errorf("%q: %q, want %q", c.msg, got, c.want)
		}
	}
}

func TestParseRoundTrip(t *testing.T) {
	script, err := Generate(sample)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := Parse(script)
	if !ok || !reflect.DeepEqual(got, sample) {
		t.Fatalf("round trip: ok=%v\n%+v", ok, got)
	}
	if _, ok := Parse(strings.ReplaceAll(script, "\n", "\r\n")); !ok {
		t.Error("CRLF script not recognised")
	}
	edited := strings.Replace(script, `fileinto :create "Invoices";`, `fileinto :create "Bills";`, 1)
	if _, ok := Parse(edited); ok {
		t.Error("hand-edited script read as rules")
	}
	if _, ok := Parse(`require "fileinto"; fileinto "x";`); ok {
		t.Error("hand-written script read as rules")
	}
	empty, err := Generate(RuleSet{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sieve.Compile(empty, sieve.Limits{}); err != nil {
		t.Errorf("empty rule set: %v", err)
	}
}

func TestGenerateErrors(t *testing.T) {
	cases := []struct {
		rs   RuleSet
		want string
	}{
		{RuleSet{Rules: []Rule{{Actions: []Action{{Kind: ActionDelete}}}}}, "at least one condition"},
		{RuleSet{Rules: []Rule{{Conditions: []Condition{{"body", "x"}}, Actions: []Action{{Kind: ActionDelete}}}}}, "unknown field"},
		{RuleSet{Rules: []Rule{{Conditions: []Condition{{FieldFrom, "a\nb"}}, Actions: []Action{{Kind: ActionDelete}}}}}, "one-line"},
		{RuleSet{Rules: []Rule{{Conditions: []Condition{{FieldFrom, "a"}}, Actions: []Action{{Kind: ActionMove}}}}}, "needs a folder"},
		{RuleSet{Rules: []Rule{{Conditions: []Condition{{FieldFrom, "a"}}, Actions: []Action{{Kind: ActionForward, Address: "nope"}}}}}, "forward to"},
		{RuleSet{Rules: []Rule{{Conditions: []Condition{{FieldFrom, "a"}}, Actions: []Action{{Kind: "explode"}}}}}, "unknown action"},
		{RuleSet{Away: &Away{}}, "needs a message"},
		{RuleSet{Away: &Away{Message: "x", Start: "12/24"}}, "not a date"},
		{RuleSet{Away: &Away{Message: "x", Start: "2026-12-24", End: "2026-12-01"}}, "end is before"},
	}
	for _, c := range cases {
		if _, err := Generate(c.rs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.rs, err, c.want)
		}
	}
}

// FuzzParse checks that Parse never panics and that what it accepts
// generates the same script again.
func FuzzParse(f *testing.F) {
	script, _ := Generate(sample)
	f.Add(script)
	f.Add("# x\n" + marker + `{"rules":[]}` + "\n")
	f.Fuzz(func(t *testing.T, s string) {
		rs, ok := Parse(s)
		if !ok {
			return
		}
		again, err := Generate(rs)
		if err != nil || again != strings.ReplaceAll(s, "\r\n", "\n") {
			t.Fatalf("accepted a script that does not round-trip")
		}
		if _, err := sieve.Compile(again, sieve.Limits{}); err != nil {
			t.Fatalf("accepted rules do not compile: %v", err)
		}
	})
}

// TestDetailRule: "mail to +newsletter goes to folder Newsletters" (RFC
// 5233 detail of the envelope recipient), run as delivery runs it, and
// read back as rules.
func TestDetailRule(t *testing.T) {
	rs := RuleSet{Rules: []Rule{{Conditions: []Condition{{FieldDetail, "newsletter"}}, Actions: []Action{{Kind: ActionMove, Folder: "Newsletters"}}}}}
	script, err := Generate(rs)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sieve.Compile(script, sieve.Limits{})
	if err != nil {
		t.Fatalf("%v\n%s", err, script)
	}
	for _, c := range []struct{ to, want string }{
		{"me+newsletter@example.com", "fileinto:Newsletters"},
		{"me+Newsletter@example.com", "fileinto:Newsletters"},
		{"me+newsletters@example.com", "keep"},
		{"me@example.com", "keep"},
	} {
		msg := &sieve.Message{Header: []byte("From: a@sender.example\r\nSubject: hi\r\n"), Body: strings.NewReader("x\r\n"), EnvelopeFrom: "a@sender.example", EnvelopeTo: c.to}
		res, err := s.Run(context.Background(), msg, env{time.Now()}, sieve.RunOptions{UserAddresses: []string{"me@example.com"}, SubaddressDelimiter: "+"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range res.Actions {
			g := a.Kind.String()
			if a.Kind == sieve.ActionFileInto {
				g += ":" + a.Mailbox
			}
			got = append(got, g)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("to %s: %v, want %s", c.to, got, c.want)
		}
	}
	if back, ok := Parse(script); !ok || !reflect.DeepEqual(back, rs) {
		t.Errorf("round trip: ok=%v %+v", ok, back)
	}
	if plain, _ := Generate(sample); strings.Contains(plain, "subaddress") {
		t.Error("a rule set without a detail condition requires subaddress")
	}
}
