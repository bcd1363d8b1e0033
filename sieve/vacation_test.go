package sieve

import (
	"bytes"
	"context"
	"golang.org/x/text/encoding/japanese"
	"io"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"
)

const vacationMsg = "From: Sender <sender@example.org>\nTo: Me <me@example.com>\nSubject: Lunch on Friday?\nMessage-ID: <abc@example.org>\nReferences: <root@example.org>\n\nShall we?\n"

func TestRFC5230Examples(t *testing.T) {
	from := "sender@example.org"
	runCases(t, []scriptCase{
		{name: "cyrus", script: `require "vacation";
if header :contains "subject" "cyrus" {
    vacation "I'm out -- send mail to cyrus-bugs";
} else {
    vacation "I'm out -- call me at +1 304 555 0123";
}`, msg: vacationMsg, from: from, want: "vacation:sender@example.org keep*"},
		{name: "subject variable", script: `require ["vacation", "variables"];
if header :matches "subject" "*" {
    vacation :subject "Automatic response to: ${1}" "I'm away";
}`, msg: vacationMsg, from: from, want: "vacation:sender@example.org keep*"},
		{name: "addresses", script: `require "vacation";
vacation :days 23 :addresses ["tjs@example.edu",
                              "ts4z@landru.example.edu"]
   "I'm away until October 19.  If it's an emergency, call 911, I guess." ;`,
			msg: "From: x@example.org\nTo: ts4z@landru.example.edu\n\nx\n", from: "x@example.org", to: "other@example.com", want: "vacation:x@example.org keep*"},
		{name: "boss redirect", script: `require "vacation";
if header :contains "from" "boss@example.edu" {
    redirect "pleeb@isp.example.org";
} else {
    vacation "Sorry, I'm away, I'll read your message when I get around to it.";
}`, msg: "From: boss@example.edu\nTo: me@example.com\n\nx\n", from: "boss@example.edu", want: "redirect:pleeb@isp.example.org"},
		{name: "handle", script: `require "vacation"; vacation :days 7 :handle "ran-away" "I'm not available for a week";`, msg: vacationMsg, from: from, want: "vacation:sender@example.org keep*"},
	})
}

// vacationReply runs a vacation script and returns the reply (nil if none)
// and the notes.
func vacationReply(t *testing.T, env *testEnv, script string, msg *Message) (*VacationReply, []string) {
	t.Helper()
	res := runScript(t, env, script, msg)
	for _, a := range res.Actions {
		if a.Kind == ActionVacation {
			return a.Vacation, res.Notes
		}
	}
	return nil, res.Notes
}

func TestVacationReplyMessage(t *testing.T) {
	env := newTestEnv()
	v, notes := vacationReply(t, env, `require "vacation"; vacation :from "Me Myself <me@example.com>" "I'm away
until Monday.";`, testMessage(vacationMsg, "Sender@Example.org", "me@example.com"))
	if v == nil {
		t.Fatalf("no reply: %v", notes)
	}
	if v.To != "sender@example.org" || v.Period != 7*24*time.Hour || v.Subject != "Auto: Lunch on Friday?" {
		t.Errorf("reply %+v", v)
	}
	m, err := mail.ReadMessage(bytes.NewReader(v.Message))
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]string{
		"Auto-Submitted": "auto-replied",
		"In-Reply-To":    "<abc@example.org>",
		"References":     "<root@example.org> <abc@example.org>",
		"Subject":        "Auto: Lunch on Friday?",
		"From":           `"Me Myself" <me@example.com>`,
		"To":             "<sender@example.org>",
		"Date":           "Mon, 07 Dec 2026 09:30:00 +0900",
	}
	for k, want := range checks {
		if got := m.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !strings.HasSuffix(m.Header.Get("Message-Id"), "@mx.example.com>") {
		t.Errorf("Message-ID %q", m.Header.Get("Message-Id"))
	}
	body, _ := io.ReadAll(m.Body)
	if string(body) != "I'm away\r\nuntil Monday.\r\n" {
		t.Errorf("body %q", body)
	}
	if bytes.Contains(v.Message, []byte("\n")) && bytes.Count(v.Message, []byte("\n")) != bytes.Count(v.Message, []byte("\r\n")) {
		t.Error("bare LF in reply")
	}
}

func TestVacationMIME(t *testing.T) {
	script := `require "vacation";
vacation :mime text:
Content-Type: multipart/alternative; boundary=foo

--foo

I'm at the beach relaxing.  Mmmm, surf...

--foo
Content-Type: text/html; charset=us-ascii

<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.0//EN"
 "http://www.w3.org/TR/REC-html40/strict.dtd">
<HTML><HEAD><TITLE>How to relax</TITLE>
<BASE HREF="http://home.example.com/pictures/"></HEAD>
<BODY><P>I'm at the <A HREF="beach.gif">beach</A> relaxing.
Mmmm, <A HREF="ocean.gif">surf</A>...
</BODY></HTML>

--foo--
.
;`
	v, notes := vacationReply(t, newTestEnv(), script, testMessage(vacationMsg, "sender@example.org", "me@example.com"))
	if v == nil {
		t.Fatalf("no reply: %v", notes)
	}
	m, err := mail.ReadMessage(bytes.NewReader(v.Message))
	if err != nil {
		t.Fatal(err)
	}
	if ct := m.Header.Get("Content-Type"); ct != "multipart/alternative; boundary=foo" {
		t.Errorf("Content-Type %q", ct)
	}
	body, _ := io.ReadAll(m.Body)
	if !bytes.Contains(body, []byte("--foo\r\nContent-Type: text/html")) {
		t.Errorf("body %q", body)
	}
}

func TestVacationJapanese(t *testing.T) {
	msg := "From: " + iso2022jpWord(t, "山田") + " <yamada@example.jp>\nTo: me@example.com\nSubject: " + iso2022jpWord(t, "お疲れ") + "\n\nx\n"
	v, notes := vacationReply(t, newTestEnv(), `require "vacation"; vacation "ただいま不在です。月曜日に戻ります。";`, testMessage(msg, "yamada@example.jp", "me@example.com"))
	if v == nil {
		t.Fatalf("no reply: %v", notes)
	}
	m, err := mail.ReadMessage(bytes.NewReader(v.Message))
	if err != nil {
		t.Fatal(err)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil || subj != "Auto: お疲れ" {
		t.Errorf("subject %q %v (raw %q)", subj, err, m.Header.Get("Subject"))
	}
	body, _ := io.ReadAll(m.Body)
	if bytes.ContainsFunc(body, func(r rune) bool { return r > 127 }) {
		t.Error("body not quoted-printable")
	}
}

func TestVacationRules(t *testing.T) {
	script := `require "vacation"; vacation "away";`
	cases := []struct {
		name, msg, from, to, why string
	}{
		{"reply", vacationMsg, "sender@example.org", "me@example.com", ""},
		{"null sender", vacationMsg, "", "me@example.com", "envelope sender is empty"},
		{"mailer-daemon", vacationMsg, "MAILER-DAEMON@example.org", "me@example.com", "system address"},
		{"owner-", vacationMsg, "owner-list@example.org", "me@example.com", "list or bounce"},
		{"-request", vacationMsg, "list-request@example.org", "me@example.com", "list or bounce"},
		{"list-id", "List-Id: <l.example.org>\n" + vacationMsg, "sender@example.org", "me@example.com", "mailing list"},
		{"list-unsubscribe", "List-Unsubscribe: <mailto:u@example.org>\n" + vacationMsg, "sender@example.org", "me@example.com", "mailing list"},
		{"bulk", "Precedence: bulk\n" + vacationMsg, "sender@example.org", "me@example.com", "Precedence"},
		{"junk precedence", "Precedence: junk\n" + vacationMsg, "sender@example.org", "me@example.com", "Precedence"},
		{"auto-generated", "Auto-Submitted: auto-generated\n" + vacationMsg, "sender@example.org", "me@example.com", "auto-submitted"},
		{"auto-replied", "Auto-Submitted: auto-replied; owner-email=x@y\n" + vacationMsg, "sender@example.org", "me@example.com", "auto-submitted"},
		{"auto-submitted no", "Auto-Submitted: no\n" + vacationMsg, "sender@example.org", "me@example.com", ""},
		{"not addressed", "From: a@example.org\nTo: list@example.org\n\nx\n", "a@example.org", "me@example.com", "none of the user's addresses"},
		{"cc", "From: a@example.org\nTo: list@example.org\nCc: ME@Example.COM\n\nx\n", "a@example.org", "me@example.com", ""},
		{"subaddress", "From: a@example.org\nTo: me+shop@example.com\n\nx\n", "a@example.org", "me+shop@example.com", ""},
		{"self", "From: me@example.com\nTo: me@example.com\n\nx\n", "me@example.com", "me@example.com", "the sender is the user"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, notes := vacationReply(t, newTestEnv(), script, testMessage(c.msg, c.from, c.to))
			if c.why == "" {
				if v == nil {
					t.Errorf("no reply: %v", notes)
				}
				return
			}
			if v != nil || len(notes) != 1 || !strings.Contains(notes[0], c.why) {
				t.Errorf("reply %v, notes %q, want no reply because %s", v != nil, notes, c.why)
			}
		})
	}
	junk := testMessage(vacationMsg, "sender@example.org", "me@example.com")
	junk.Junk = true
	if v, _ := vacationReply(t, newTestEnv(), script, junk); v != nil {
		t.Error("replied to junk")
	}
}

// TestVacationOncePerPeriod checks the :days rule with the seen store.
func TestVacationOncePerPeriod(t *testing.T) {
	env := newTestEnv()
	script := `require "vacation"; vacation :days 2 "away";`
	msg := func() *Message { return testMessage(vacationMsg, "sender@example.org", "me@example.com") }
	res := runScript(t, env, script, msg())
	env.record(res)
	if summary(res) != "vacation:sender@example.org keep*" {
		t.Fatalf("first: %q", summary(res))
	}
	if v, notes := vacationReply(t, env, script, msg()); v != nil || !strings.Contains(strings.Join(notes, ""), "answered less than 2 days ago") {
		t.Errorf("second reply within the period: %v", notes)
	}
	// A different handle (other text) answers again.
	if v, _ := vacationReply(t, env, `require "vacation"; vacation :days 2 "back soon";`, msg()); v == nil {
		t.Error("new vacation text did not reply")
	}
	env.now = env.now.Add(49 * time.Hour)
	if v, _ := vacationReply(t, env, script, msg()); v == nil {
		t.Error("no reply after the period")
	}
	// :days 0 is raised to the minimum of one day.
	env = newTestEnv()
	res = runScript(t, env, `require "vacation"; vacation :days 0 "x";`, msg())
	if len(res.Actions) == 0 || res.Actions[0].Vacation == nil || res.Actions[0].Vacation.Period != 24*time.Hour {
		t.Errorf(":days 0: %q", summary(res))
	}
}

func TestVacationWithReject(t *testing.T) {
	s, err := Compile(`require ["vacation", "reject"]; vacation "away"; reject "no";`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(context.Background(), testMessage(vacationMsg, "sender@example.org", "me@example.com"), newTestEnv(), defaultOpts); err == nil {
		t.Error("vacation with reject ran")
	}
}

// iso2022jpWord encodes s as one RFC 2047 word in ISO-2022-JP, the way
// Japanese mail clients write headers.
func iso2022jpWord(t *testing.T, s string) string {
	t.Helper()
	b, err := japanese.ISO2022JP.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return mime.BEncoding.Encode("ISO-2022-JP", b)
}

func TestVacationDefaultFrom(t *testing.T) {
	msg := "From: a@example.org\nTo: list@example.org\nCc: Me <me+work@example.com>\nSubject: x\n\nx\n"
	v, notes := vacationReply(t, newTestEnv(), `require "vacation"; vacation "away";`, testMessage(msg, "a@example.org", "me+work@example.com"))
	if v == nil || v.From != "me+work@example.com" {
		t.Fatalf("reply %+v %v", v, notes)
	}
}

func TestVacationFromMustBeOwn(t *testing.T) {
	v, notes := vacationReply(t, newTestEnv(), `require "vacation"; vacation :from "ceo@bank.example" "away";`, testMessage(vacationMsg, "sender@example.org", "me@example.com"))
	if v == nil || v.From != "me@example.com" || !strings.Contains(strings.Join(notes, " "), "not one of the user's addresses") {
		t.Errorf("reply %+v, notes %q", v, notes)
	}
}
