package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"time"
)

// loginRun is one measurement of IMAP LOGIN right after the server
// started: the first login (nothing cached: the password hash is checked)
// and a second one on a new connection.
type loginRun struct {
	Greeting time.Duration // connect until the greeting line
	First    time.Duration // LOGIN until its tagged OK, the first after the start
	Second   time.Duration // the same on a second connection right after
}

// rawIMAPLogin connects to addr, reads the greeting and logs in with a
// plain LOGIN command, timing both; it logs out afterwards.
func rawIMAPLogin(addr, user, pass string) (greeting, login time.Duration, err error) {
	start := time.Now()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil {
		return 0, 0, fmt.Errorf("IMAP greeting: %w", err)
	}
	if !strings.HasPrefix(line, "* OK") {
		return 0, 0, fmt.Errorf("IMAP greeting: %q", strings.TrimSpace(line))
	}
	greeting = time.Since(start)
	t := time.Now()
	if _, err := fmt.Fprintf(conn, "a1 LOGIN %s %s\r\n", imapQuote(user), imapQuote(pass)); err != nil {
		return greeting, 0, err
	}
	for {
		line, err = br.ReadString('\n')
		if err != nil {
			return greeting, 0, fmt.Errorf("LOGIN: %w", err)
		}
		if strings.HasPrefix(line, "a1 ") {
			break
		}
	}
	login = time.Since(t)
	if !strings.HasPrefix(line, "a1 OK") {
		return greeting, login, fmt.Errorf("LOGIN: %q", strings.TrimSpace(line))
	}
	// Log out and read the answer, so that the server does not write
	// its BYE to a closed connection.
	fmt.Fprintf(conn, "a2 LOGOUT\r\n")
	for {
		if line, err = br.ReadString('\n'); err != nil || strings.HasPrefix(line, "a2 ") {
			break
		}
	}
	return greeting, login, nil
}

// imapQuote writes s as an IMAP quoted string.
func imapQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// measureFirstLogin logs in twice on sys, which has just been started.
func measureFirstLogin(sys system, user string) (loginRun, error) {
	var r loginRun
	var err error
	if r.Greeting, r.First, err = rawIMAPLogin(sys.Addr("imap"), user, password); err != nil {
		return r, err
	}
	_, r.Second, err = rawIMAPLogin(sys.Addr("imap"), user, password)
	return r, err
}
