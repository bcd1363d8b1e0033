package mta

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/internal/testpeer"
)

// TestSubmissionWithSwaks sends with swaks, a client nobody here wrote,
// over STARTTLS with AUTH PLAIN and AUTH LOGIN, pipelining or not; bob
// gets each message once, received "with ESMTPSA" (ESMTPA without TLS).
func TestSubmissionWithSwaks(t *testing.T) {
	swaks := testpeer.Need(t, "/usr/bin/swaks", "swaks")
	ts, _ := startSubmission(t, false, nil)
	host, port, _ := net.SplitHostPort(ts.addr)
	for i, args := range [][]string{
		{"--tls", "--auth", "PLAIN"},
		{"--tls", "--auth", "LOGIN", "--pipeline"},
		{"--auth", "PLAIN", "--pipeline"}, // loopback may log in without TLS
	} {
		cmd := exec.Command(swaks, append([]string{"--server", host, "--port", port,
			"--auth-user", ann, "--auth-password", testPassword, "--from", ann, "--to", bob,
			"--header", fmt.Sprintf("Subject: swaks %d", i), "--body", "Hello from swaks.\n.\nA dot line above."}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("swaks %v: %v\n%s", args, err, out.String())
		}
	}
	got := inbox(t, ts.store, bob)
	if len(got) != 3 {
		t.Fatalf("bob has %d messages, want 3", len(got))
	}
	for i, m := range got {
		with := "with ESMTPSA"
		if i == 2 {
			with = "with ESMTPA\r\n"
		}
		if !strings.Contains(m, with) || !strings.Contains(m, fmt.Sprintf("Subject: swaks %d", i)) ||
			!strings.Contains(m, "\r\nHello from swaks.\r\n.\r\nA dot line above.") {
			t.Errorf("message %d: %q", i, m)
		}
	}

	// A wrong password: swaks fails with the 535.
	var out bytes.Buffer
	cmd := exec.Command(swaks, "--server", host, "--port", port, "--tls", "--auth", "PLAIN",
		"--auth-user", ann, "--auth-password", "wrong", "--from", ann, "--to", bob)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err == nil || !strings.Contains(out.String(), "535") {
		t.Errorf("swaks with a wrong password: %v\n%s", err, out.String())
	}
}
