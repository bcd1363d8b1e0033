package managesieve

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/limits"
)

// TestGreeting checks the capabilities (RFC 5804 §1.7) before and after
// STARTTLS and login.
func TestGreeting(t *testing.T) {
	env := startServer(t, func(o *Options) { o.InsecureAuth = func(net.Addr) bool { return false } })
	c, greeting := env.dial(t)
	for _, want := range []string{
		`"IMPLEMENTATION" "Yubin"`, `"SASL" ""`, `"STARTTLS"`, `"VERSION" "1.0"`, `"MAXREDIRECTS" "5"`,
		`"UNAUTHENTICATE"`,
	} {
		if !slices.Contains(greeting, want) {
			t.Errorf("greeting lacks %s: %q", want, greeting)
		}
	}
	if !strings.HasPrefix(last(greeting), "OK ") {
		t.Errorf("greeting ends with %q", last(greeting))
	}
	var sieveLine string
	for _, l := range greeting {
		if strings.HasPrefix(l, `"SIEVE" `) {
			sieveLine = l
		}
	}
	for _, ext := range []string{"fileinto", "vacation", "imap4flags", "comparator-i;unicode-casemap", "body", "variables"} {
		if !strings.Contains(sieveLine, " "+ext) && !strings.Contains(sieveLine, `"`+ext) {
			t.Errorf("SIEVE capability %q lacks %s", sieveLine, ext)
		}
	}
	caps := c.startTLS(env.clientTLS)
	if slices.Contains(caps, `"STARTTLS"`) || !slices.Contains(caps, `"SASL" "PLAIN"`) {
		t.Errorf("capabilities after STARTTLS: %q", caps)
	}
	if !strings.HasPrefix(last(caps), "OK") {
		t.Errorf("no OK after the capabilities: %q", caps)
	}
	c.login()
	caps = c.expect("CAPABILITY", "OK")
	if !slices.Contains(caps, `"OWNER" "`+testUser+`"`) {
		t.Errorf("no OWNER after login: %q", caps)
	}
	c.expect("STARTTLS", "NO")
}

// TestRFCSession runs the examples of RFC 5804 §2 in one session.
func TestRFCSession(t *testing.T) {
	env := startServer(t, nil)
	c, _ := env.dial(t)
	// §2.1 with the PLAIN mechanism: a wrong password, then the right one
	// after the empty challenge, as a literal.
	c.expect(`AUTHENTICATE "PLAIN" "`+plain("", testUser, "wrong")+`"`, "NO")
	c.send("AUTHENTICATE \"PLAIN\"\r\n")
	if l := c.readLine(); l != `""` {
		t.Fatalf("challenge = %q, want \"\"", l)
	}
	resp := plain("", testUser, testPass)
	c.send(fmt.Sprintf("{%d+}\r\n%s\r\n", len(resp), resp))
	if r := c.response(); last(r) != `OK "Logged in"` {
		t.Fatalf("login: %q", r)
	}
	c.expect("AUTHENTICATE \"PLAIN\" \""+resp+"\"", "NO")

	// §2.3
	c.expect(`HAVESPACE "myscript" 999999`, "NO (QUOTA/MAXSIZE)")
	c.expect(`HAVESPACE "foobar" 435`, "OK")

	// §2.6
	bad := "#comment\r\nInvalidSieveCommand\r\n"
	r := c.expect(fmt.Sprintf("Putscript \"foo\" {%d+}\r\n%s", len(bad), bad), "NO ")
	if !strings.Contains(last(r), "line ") {
		t.Errorf("the error does not name the line: %q", last(r))
	}
	good := "require [\"fileinto\", \"envelope\"];\r\n\r\nif envelope :contains \"to\" \"tmartin+sent\" {\r\n  fileinto \"INBOX.sent\";\r\n}\r\n"
	c.expect(fmt.Sprintf("Putscript \"mysievescript\" {%d+}\r\n%s", len(good), good), "OK")

	// §2.7, with a name that needs quoting.
	script := "#this is my wonderful script\r\nreject \"I reject all\";\r\n"
	script = strings.Replace(script, "reject", `require "reject"; reject`, 1)
	for _, name := range []string{"summer_script", "vacation_script", `clever"script`, "main_script"} {
		c.expect(fmt.Sprintf("PUTSCRIPT %s {%d+}\r\n%s", quote(name), len(script), script), "OK")
	}
	c.expect(`SETACTIVE "main_script"`, "OK")
	list := c.expect("Listscripts", "OK")
	want := []string{`"clever\"script"`, `"main_script" ACTIVE`, `"mysievescript"`, `"summer_script"`, `"vacation_script"`}
	if !slices.Equal(list[:len(list)-1], want) {
		t.Errorf("LISTSCRIPTS = %q, want %q", list, want)
	}
	c.expect(`PUTSCRIPT "toomany" "keep;"`, "NO (QUOTA/MAXSCRIPTS)")

	// §2.8
	c.expect(`Setactive "vacation_script"`, "OK")
	c.expect(`Setactive ""`, "OK")
	c.expect(`Setactive "baz"`, "NO (NONEXISTENT)")
	c.expect(`Setactive "vacation_script"`, "OK")

	// §2.9
	myscript := "#this is my wonderful script\r\nrequire \"reject\";\r\nreject \"I reject all\";\r\n"
	c.expect(fmt.Sprintf("PUTSCRIPT \"myscript\" {%d+}\r\n%s", len(myscript), myscript), "NO (QUOTA/MAXSCRIPTS)")
	c.expect(`DELETESCRIPT "summer_script"`, "OK")
	c.expect(fmt.Sprintf("PUTSCRIPT \"myscript\" {%d+}\r\n%s", len(myscript), myscript), "OK")
	got := c.expect(`Getscript "myscript"`, "OK")
	if len(got) != 2 || got[0] != fmt.Sprintf("{%d}\r\n%s", len(myscript), myscript) {
		t.Errorf("GETSCRIPT = %q", got)
	}
	c.expect(`GETSCRIPT "nosuch"`, "NO (NONEXISTENT)")

	// §2.10
	c.expect(`Deletescript "foo"`, "NO (NONEXISTENT)")
	c.expect(`Deletescript "vacation_script"`, "NO (ACTIVE)")

	// §2.11
	c.expect(`RENAMESCRIPT "nosuch" "bar"`, "NO (NONEXISTENT)")
	c.expect(`RENAMESCRIPT "vacation_script" "main_script"`, "NO (ALREADYEXISTS)")
	c.expect(`RENAMESCRIPT "vacation_script" "away"`, "OK")
	if list := c.expect("LISTSCRIPTS", "OK"); !slices.Contains(list, `"away" ACTIVE`) {
		t.Errorf("the renamed script is no longer active: %q", list)
	}

	// §2.12
	c.expect(fmt.Sprintf("CHECKSCRIPT {%d+}\r\n%s", len(bad), bad), "NO ")
	c.expect(`CHECKSCRIPT "keep;"`, `OK "Script is valid"`)
	c.expect("CHECKSCRIPT {12+}\r\nkeep; # warn", `OK (WARNINGS) "line 1: this is a warning"`)

	// §2.13
	c.expect(`NOOP "STARTTLS-SYNC-42"`, `OK (TAG "STARTTLS-SYNC-42") "Done"`)
	c.expect(`NOOP`, `OK "Done"`)

	// §2.14
	c.expect("UNAUTHENTICATE", "OK")
	c.expect("LISTSCRIPTS", "NO")
	c.login()
	c.expect("LOGOUT", `OK "Logout completed"`)
	c.conn.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := c.br.ReadByte(); err == nil {
		t.Error("the connection stays open after LOGOUT")
	}
}

// TestBadInput sends malformed commands: each gets NO (or BYE when the
// stream cannot be followed) and the server keeps serving.
func TestBadInput(t *testing.T) {
	env := startServer(t, func(o *Options) { o.MaxScriptSize = 100 })
	tests := []struct {
		name, send, want string
	}{
		{"unknown command", "FROB\r\n", "NO \"Unknown command FROB\""},
		{"not authenticated", "LISTSCRIPTS\r\n", "NO"},
		{"unterminated quote", "NOOP \"abc\r\n", "NO \"Unterminated quoted string\""},
		{"bad escape", "NOOP \"a\\nb\"\r\n", "NO \"Invalid escape in a quoted string\""},
		{"quoted too long", "NOOP \"" + strings.Repeat("a", 1100) + "\"\r\n", "NO"},
		{"invalid UTF-8", "NOOP \"\xff\"\r\n", "NO"},
		{"too many args", "NOOP \"a\" \"b\"\r\n", "NO"},
		{"atom argument", "NOOP abc\r\n", "NO"},
		{"bad literal", "NOOP {x}\r\n", "NO \"Malformed literal\""},
		{"literal over the limit, skipped", "NOOP {150+}\r\n" + strings.Repeat("X", 150) + "\r\n", "NO (QUOTA/MAXSIZE)"},
		{"CAPABILITY with args", "CAPABILITY \"x\"\r\n", "NO"},
		{"unsupported mechanism", "AUTHENTICATE \"DIGEST-MD5\"\r\n", "NO"},
		{"malformed PLAIN", "AUTHENTICATE \"PLAIN\" \"!!!\"\r\n", "NO \"Malformed PLAIN response\""},
		{"PLAIN of another user", "AUTHENTICATE \"PLAIN\" \"" + plain("root@example.test", testUser, testPass) + "\"\r\n", "NO \"Cannot act as another user\""},
		{"cancelled", "AUTHENTICATE \"PLAIN\"\r\n\"*\"\r\n", "NO \"Authentication cancelled\""},
		{"missing space", "NOOP\"a\"\r\n", "NO"},
	}
	c, _ := env.dial(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.send(tt.send)
			r := c.response()
			if strings.HasPrefix(tt.send, "AUTHENTICATE \"PLAIN\"\r\n") {
				r = r[1:] // the challenge
			}
			if !strings.HasPrefix(last(r), tt.want) {
				t.Errorf("%q: got %q, want %q", tt.send, r, tt.want)
			}
			c.expect("NOOP", "OK") // still in step
		})
	}
	c.t = t
	c.login()
	c.expect(`PUTSCRIPT "" "keep;"`, `NO "Script name is empty"`)
	c.expect("PUTSCRIPT \"a\x01b\" \"keep;\"", `NO "Script name contains a control character"`)
	c.expect("PUTSCRIPT \"a\u2028b\" \"keep;\"", `NO "Script name contains a control character"`)
	c.expect(`PUTSCRIPT "x" {101+}`+"\r\n"+strings.Repeat("#", 101), "NO (QUOTA/MAXSIZE)")
	c.expect("NOOP", "OK") // a success resets the count of errors in a row
	c.expect(`HAVESPACE "x" 101`, "NO (QUOTA/MAXSIZE)")
	c.expect(`HAVESPACE "x" "101"`, "NO")
	c.expect(`HAVESPACE "x" -1`, "NO")
	c.expect(`PUTSCRIPT "x" "keep;" "more"`, "NO")
	c.expect(`PUTSCRIPT "x"`, "NO")
	c.expect(`AUTHENTICATE "PLAIN"`, "NO")
	c.expect(`LISTSCRIPTS`, "OK")

	// A literal far over the limit cannot be skipped: BYE, and the server
	// still serves the next client.
	c.send("PUTSCRIPT \"x\" {100000+}\r\n")
	if r := c.response(); !strings.HasPrefix(last(r), "BYE") {
		t.Errorf("huge literal: %q", r)
	}
	c2, _ := env.dial(t)
	c2.expect("NOOP", "OK")
}

// TestTooManyErrors: a client that only sends garbage is disconnected.
func TestTooManyErrors(t *testing.T) {
	env := startServer(t, nil)
	c, _ := env.dial(t)
	for range maxErrors - 1 {
		c.expect("GARBAGE", "NO")
	}
	c.send("GARBAGE\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "NO") {
		t.Fatalf("got %q", l)
	}
	if l := c.readLine(); !strings.HasPrefix(l, "BYE") {
		t.Fatalf("got %q, want BYE", l)
	}
}

// TestLongLine: a command line over the limit ends the connection.
func TestLongLine(t *testing.T) {
	env := startServer(t, nil)
	c, _ := env.dial(t)
	c.send("NOOP " + strings.Repeat("a", maxLineBytes+10))
	if r := c.response(); last(r) != `BYE "Command line too long"` {
		t.Errorf("got %q", r)
	}
}

// TestAuthNeedsTLS: off loopback (simulated by the InsecureAuth policy),
// AUTHENTICATE is refused before STARTTLS and works after it.
func TestAuthNeedsTLS(t *testing.T) {
	env := startServer(t, func(o *Options) { o.InsecureAuth = func(net.Addr) bool { return false } })
	c, _ := env.dial(t)
	c.expect(`AUTHENTICATE "PLAIN" "`+plain("", testUser, testPass)+`"`, "NO (ENCRYPT-NEEDED)")
	c.send("AUTHENTICATE \"PLAIN\"\r\n")
	if r := c.response(); !strings.HasPrefix(last(r), "NO (ENCRYPT-NEEDED)") || len(r) != 1 {
		t.Errorf("AUTHENTICATE without TLS and without an initial response: %q", r)
	}
	c.startTLS(env.clientTLS)
	c.login()
	c.expect("LISTSCRIPTS", "OK")
}

// TestStartTLSInjection: commands pipelined after STARTTLS in the clear are
// refused (CVE-2011-0411).
func TestStartTLSInjection(t *testing.T) {
	env := startServer(t, nil)
	c, _ := env.dial(t)
	c.send("STARTTLS\r\nAUTHENTICATE \"PLAIN\" \"" + plain("", testUser, testPass) + "\"\r\n")
	if r := c.response(); !strings.HasPrefix(last(r), "BYE") {
		t.Errorf("got %q, want BYE", r)
	}
}

// TestLoginThrottle: the shared AuthLimiter blocks an account after
// repeated failures, even with the right password.
func TestLoginThrottle(t *testing.T) {
	lim := limits.NewAuthLimiter(limits.AuthLimiterConfig{BlockAfter: 2, FreeFailures: -1, MaxDelay: time.Millisecond})
	env := startServer(t, func(o *Options) { o.AuthLimiter = lim })
	c, _ := env.dial(t)
	for range 2 {
		c.expect(`AUTHENTICATE "PLAIN" "`+plain("", testUser, "wrong")+`"`, `NO "Authentication failed"`)
	}
	c.expect(`AUTHENTICATE "PLAIN" "`+plain("", strings.ToUpper(testUser), testPass)+`"`, "NO (TRYLATER)")
}

// TestShutdown: Shutdown ends an idle session with BYE (TRYLATER), and a
// session in a command finishes it first.
func TestShutdown(t *testing.T) {
	env := startServer(t, nil)
	c, _ := env.dial(t)
	c.login()
	c.expect("NOOP", "OK")
	done := make(chan error, 1)
	go func() { done <- env.srv.Shutdown(context.Background()) }()
	if l := c.readLine(); l != `BYE (TRYLATER) "Server shutting down"` {
		t.Errorf("got %q", l)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", env.addr); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

// TestIdleTimeout: a silent client gets BYE.
func TestIdleTimeout(t *testing.T) {
	env := startServer(t, func(o *Options) { o.IdleTimeout = 50 * time.Millisecond })
	c, _ := env.dial(t)
	if l := c.readLine(); l != `BYE "Idle for too long"` {
		t.Errorf("got %q", l)
	}
}
