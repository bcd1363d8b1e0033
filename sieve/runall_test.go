package sieve

import (
	"context"
	"strings"
	"testing"
)

func TestRunAll(t *testing.T) {
	compile := func(src string) *Script {
		s, err := Compile(src, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	domain := compile(`require ["fileinto", "imap4flags", "variables"]; set "x" "domain"; if header :contains "subject" "virus" { discard; stop; } addflag "$Checked";`)
	user := compile(`require ["fileinto", "variables"]; if string :is "${x}" "" { fileinto "User"; }`)
	cases := []struct{ subject, want string }{
		{"virus inside", "discard"},
		{"hello", "fileinto:User[$Checked]"},
	}
	for _, c := range cases {
		res, err := RunAll(context.Background(), []*Script{domain, nil, user}, testMessage("Subject: "+c.subject+"\n\nx\n", "a@b.example", "me@example.com"), newTestEnv(), defaultOpts)
		if err != nil {
			t.Fatal(err)
		}
		if got := summary(res); got != c.want {
			t.Errorf("%s: %q, want %q", c.subject, got, c.want)
		}
	}
	bad := compile(`redirect "a@b.example"; redirect "c@d.example";`)
	opts := defaultOpts
	opts.Limits.MaxRedirects = 1
	_, err := RunAll(context.Background(), []*Script{domain, bad}, testMessage("Subject: x\n\nx\n", "a@b.example", "me@example.com"), newTestEnv(), opts)
	if err == nil || !strings.Contains(err.Error(), "script 2 of 2") || !strings.Contains(err.Error(), "line 1, column 25") {
		t.Errorf("error %v", err)
	}
}

func TestInboxIsKeep(t *testing.T) {
	runCases(t, []scriptCase{
		{name: "fileinto INBOX", script: `require "fileinto"; fileinto "inbox"; keep;`, msg: "S: x\n\n", want: "keep"},
		{name: "copy INBOX", script: `require ["fileinto", "copy", "imap4flags"]; fileinto :copy :flags "a" "INBOX"; addflag "b";`, msg: "S: x\n\n", want: "keep[a b]"},
	})
	if _, err := Compile(`require ["comparator-i;ascii-numeric"]; if header :contains :comparator "i;ascii-numeric" "a" "1" {}`, Limits{}); err == nil {
		t.Error("ascii-numeric with :contains accepted")
	}
}

// TestConcurrentRuns runs one compiled script from several goroutines (run
// with -race): a Script is shared by all deliveries.
func TestConcurrentRuns(t *testing.T) {
	s, err := Compile(userScript, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	for i := 0; i < 8; i++ {
		go func() {
			res, err := s.Run(context.Background(), testMessage("From: a@b.example\nTo: me@example.com\nList-Id: <x>\nSubject: invoice\n\nx\n", "a@b.example", "me+x@example.com"), newTestEnv(), defaultOpts)
			if err != nil {
				done <- err.Error()
				return
			}
			done <- summary(res)
		}()
	}
	for i := 0; i < 8; i++ {
		if got := <-done; got != "fileinto:Invoices(create)" {
			t.Errorf("run %d: %q", i, got)
		}
	}
}

// TestManyReferenceOpeners feeds strings made of "${" to both expanders;
// they scan each string once, so this finishes at once (a quadratic scan
// would take seconds).
func TestManyReferenceOpeners(t *testing.T) {
	evil := strings.Repeat("${", 30000) + "x}"
	if got, err := decodeEncodedChars(evil); err != nil || got != evil {
		t.Errorf("encoded-character changed the string: %v", err)
	}
	s, err := Compile(`require ["variables", "reject"]; set "x" "1"; reject "`+evil+`";`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(context.Background(), testMessage("S: x\n\n", "a@b.example", "me@example.com"), newTestEnv(), defaultOpts)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Actions[0].Reason; got != strings.Repeat("${", 29999)+"1" {
		t.Errorf("expansion ends %q", got[len(got)-8:])
	}
}
