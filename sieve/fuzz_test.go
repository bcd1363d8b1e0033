package sieve

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// seedScripts are scripts from the RFCs and the tests, plus broken ones.
var seedScripts = []string{
	rfc5228Script,
	userScript,
	`require ["fileinto", "variables"]; if header :matches "List-ID" "*<*@*" { fileinto "INBOX.lists.${2}"; stop; }`,
	`require ["date", "relational", "fileinto"]; if allof(header :is "from" "boss@example.com", date :value "ge" :originalzone "date" "hour" "09") { fileinto "urgent"; }`,
	`require ["relational", "comparator-i;ascii-numeric"]; if header :count "ge" :comparator "i;ascii-numeric" ["received", "subject"] ["3"] { discard; }`,
	"require \"vacation\";\nvacation :mime :days 3 :subject \"s\" :from \"a@b.example\" :addresses [\"x@y.example\"] :handle \"h\" text:\nContent-Type: text/plain\n\n..dot\n.\n;",
	`require ["imap4flags", "variables"]; setflag "v" "\\Seen"; if hasflag :contains "v" "seen" { keep :flags "${v}"; }`,
	`require ["body", "encoded-character"]; if body :content ["text", ""] :matches "${hex:2a}x?" { discard; }`,
	`require ["reject", "ereject"]; if size :over 1M { reject "too big"; } else { ereject "x"; }`,
	`require ["mailbox", "fileinto", "copy", "subaddress", "envelope", "index"]; if envelope :detail "to" "a" { fileinto :create :copy "a"; } if header :index 1 :last "received" "x" {}`,
	`if not anyof (true, false, allof (not true, exists "x")) { redirect "a@b.example"; }`,
	"/* unterminated",
	"if header :is",
	`"str" ;`,
	"text:\n",
	"if true { if true { if true { keep; } } }",
	"require [\"a\",];",
}

var seedMessages = []string{
	vacationMsg,
	"From: a@b.example\nTo: me@example.com\nSubject: =?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b--\n",
	"no header at all",
	"",
}

// FuzzCompile checks that compiling never panics, that errors carry a
// position, and that compiled scripts run within their limits.
func FuzzCompile(f *testing.F) {
	for _, s := range seedScripts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Compile(src, Limits{MaxScriptBytes: 64 << 10, MaxNesting: 16})
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.Pos.Line < 1 || se.Pos.Column < 1 {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		runFuzzed(t, s, testMessage(seedMessages[1], "a@b.example", "me+x@example.com"))
	})
}

// FuzzRun runs a fixed set of scripts against fuzzed messages and
// envelopes.
func FuzzRun(f *testing.F) {
	for i, m := range seedMessages {
		f.Add(m, "sender@example.org", "me@example.com", uint8(i))
	}
	f.Add("Subject: "+strings.Repeat("*a", 200)+"\n\n", "", "x", uint8(2))
	var scripts []*Script
	for _, src := range seedScripts {
		if s, err := Compile(src, Limits{}); err == nil {
			scripts = append(scripts, s)
		}
	}
	if len(scripts) < 8 {
		f.Fatalf("only %d seed scripts compile", len(scripts))
	}
	f.Fuzz(func(t *testing.T, msg, from, to string, pick uint8) {
		runFuzzed(t, scripts[int(pick)%len(scripts)], testMessage(msg, from, to))
	})
}

func runFuzzed(t *testing.T, s *Script, m *Message) {
	t.Helper()
	lim := Limits{MaxSteps: 200000, MaxActions: 10, MaxRedirects: 2, MaxVariableBytes: 1 << 16, MaxBodyBytes: 1 << 16}
	opts := RunOptions{Limits: lim, UserAddresses: []string{"me@example.com"}, SubaddressDelimiter: "+"}
	env := newTestEnv()
	env.now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	res, err := s.Run(context.Background(), m, env, opts)
	if err != nil {
		var re *RuntimeError
		if !errors.As(err, &re) {
			t.Fatalf("runtime error without a position: %v", err)
		}
		return
	}
	if len(res.Actions) > lim.MaxActions+1 {
		t.Fatalf("%d actions", len(res.Actions))
	}
	keeps := 0
	for _, a := range res.Actions {
		switch a.Kind {
		case ActionKeep:
			keeps++
		case ActionFileInto:
			if a.Mailbox == "" {
				t.Fatal("fileinto without a mailbox")
			}
		case ActionRedirect:
			if !strings.Contains(a.Address, "@") {
				t.Fatalf("redirect to %q", a.Address)
			}
		case ActionVacation:
			if a.Vacation.To == "" || len(a.Vacation.Message) == 0 {
				t.Fatal("empty vacation reply")
			}
		}
	}
	if keeps > 1 {
		t.Fatalf("%d keeps", keeps)
	}
}
