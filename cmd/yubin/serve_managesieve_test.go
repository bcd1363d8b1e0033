package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
	"github.com/yubinmail/yubin/managesieve"
)

// TestManageSieveOverStore runs ManageSieve commands over a loopback socket
// against the real store through the service layer: the scripts land in
// the store, each service error gets its RFC 5804 response code, and a
// password change ends the session.
func TestManageSieveOverStore(t *testing.T) {
	ctx := context.Background()
	store, addr := startManageSieveOverStore(t)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	br := bufio.NewReader(conn)
	// response reads up to the final OK, NO or BYE line and returns it
	// with the lines before it.
	response := func() (string, []string) {
		t.Helper()
		var lines []string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v after %q", err, lines)
			}
			l = strings.TrimRight(l, "\r\n")
			for _, p := range []string{"OK", "NO", "BYE"} {
				if l == p || strings.HasPrefix(l, p+" ") {
					return l, lines
				}
			}
			lines = append(lines, l)
		}
	}
	expect := func(cmd, want string) []string {
		t.Helper()
		if _, err := io.WriteString(conn, cmd+"\r\n"); err != nil {
			t.Fatal(err)
		}
		final, lines := response()
		if !strings.HasPrefix(final, want) {
			t.Fatalf("%q: got %q, want %q", cmd, final, want)
		}
		return lines
	}
	literal := func(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }

	if final, lines := response(); !strings.HasPrefix(final, "OK") || !strings.Contains(strings.Join(lines, "\n"), `"MAXREDIRECTS" "5"`) {
		t.Fatalf("greeting: %q %q", lines, final)
	}
	expect(`AUTHENTICATE "PLAIN" "`+base64.StdEncoding.EncodeToString([]byte("\x00ann@example.test\x00wrong"))+`"`, "NO")
	expect(`AUTHENTICATE "PLAIN" "`+base64.StdEncoding.EncodeToString([]byte("\x00ANN@example.test\x00ann-password"))+`"`, "OK")

	script := "require [\"fileinto\"];\r\nif header :contains \"subject\" \"invoice\" { fileinto \"Invoices\"; }\r\n"
	expect(`PUTSCRIPT "invoices" `+literal(script), "OK")
	expect(`PUTSCRIPT "bad" `+literal("require \"fileinto\";\r\nfileinto;\r\n"), `NO "line 2`)
	expect(`PUTSCRIPT "big" `+literal(strings.Repeat("#", service.MaxSieveScriptBytes+1)), "NO (QUOTA/MAXSIZE)")
	expect(fmt.Sprintf(`HAVESPACE "big" %d`, service.MaxSieveScriptBytes+1), "NO (QUOTA/MAXSIZE)")
	expect(`HAVESPACE "other" 100`, "OK")
	expect(`SETACTIVE "nosuch"`, "NO (NONEXISTENT)")
	expect(`SETACTIVE "invoices"`, "OK")
	if lines := expect("LISTSCRIPTS", "OK"); len(lines) != 1 || lines[0] != `"invoices" ACTIVE` {
		t.Errorf("LISTSCRIPTS: %q", lines)
	}
	if lines := expect(`GETSCRIPT "invoices"`, "OK"); len(lines) < 2 || lines[0] != fmt.Sprintf("{%d}", len(script)) {
		t.Errorf("GETSCRIPT: %q", lines)
	}
	expect(`GETSCRIPT "nosuch"`, "NO (NONEXISTENT)")
	expect(`DELETESCRIPT "invoices"`, "NO (ACTIVE)")
	expect(`PUTSCRIPT "second" "keep;"`, "OK")
	expect(`RENAMESCRIPT "second" "invoices"`, "NO (ALREADYEXISTS)")
	expect(`RENAMESCRIPT "nosuch" "third"`, "NO (NONEXISTENT)")
	expect(`RENAMESCRIPT "invoices" "bills"`, "OK")
	expect(`CHECKSCRIPT "frobnicate;"`, `NO "line 1`)
	expect(`CHECKSCRIPT "keep;"`, "OK")

	u, err := store.GetUser(ctx, "ann@example.test")
	if err != nil {
		t.Fatal(err)
	}
	active, err := store.ActiveSieveScript(ctx, u.ID)
	if err != nil || active == nil || active.Name != "bills" || active.Content != script {
		t.Fatalf("active script in the store: %+v, %v", active, err)
	}
	for i := 0; i < service.MaxSieveScripts-2; i++ {
		expect(fmt.Sprintf(`PUTSCRIPT "s%d" "keep;"`, i), "OK")
	}
	expect(`HAVESPACE "one-more" 10`, "NO (QUOTA/MAXSCRIPTS)")
	expect(`PUTSCRIPT "one-more" "keep;"`, "NO (QUOTA/MAXSCRIPTS)")

	// A password change ends the session at its next command.
	if err := store.SetPassword(ctx, "ann@example.test", "new-password"); err != nil {
		t.Fatal(err)
	}
	expect("LISTSCRIPTS", "BYE")
}

// manageSieveLogin tries user and password with AUTHENTICATE PLAIN over
// ManageSieve at addr (loopback: no TLS needed) and reports whether it was
// accepted.
func manageSieveLogin(t *testing.T, addr, user, password string) bool {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReader(conn)
	final := func() string {
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("ManageSieve: %v", err)
			}
			if strings.HasPrefix(l, "OK") || strings.HasPrefix(l, "NO") || strings.HasPrefix(l, "BYE") {
				return l
			}
		}
	}
	final() // greeting
	fmt.Fprintf(conn, "AUTHENTICATE \"PLAIN\" \"%s\"\r\n", base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)))
	ok := strings.HasPrefix(final(), "OK")
	fmt.Fprintf(conn, "LOGOUT\r\n")
	final()
	return ok
}

// TestManageSieveAppPasswords logs in over a loopback ManageSieve socket
// with the real store behind it: an app password made for ManageSieve
// works, one made for IMAP only does not, and once a second factor is
// required the account password is refused while the app password still
// works (issue 20: app passwords for every mail protocol).
func TestManageSieveAppPasswords(t *testing.T) {
	ctx := context.Background()
	store, addr := startManageSieveOverStore(t)
	_, sievePW, err := store.CreateAppPassword(ctx, "ann@example.test", mailstore.NewAppPassword{Name: "Thunderbird", Protocols: []string{mailstore.ProtocolManageSieve}})
	if err != nil {
		t.Fatal(err)
	}
	_, imapPW, err := store.CreateAppPassword(ctx, "ann@example.test", mailstore.NewAppPassword{Name: "phone", Protocols: []string{mailstore.ProtocolIMAP}})
	if err != nil {
		t.Fatal(err)
	}
	// login opens a connection, authenticates with PLAIN and returns the
	// final response line.
	login := func(password string) string {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
		br := bufio.NewReader(conn)
		final := func() string {
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				l = strings.TrimRight(l, "\r\n")
				if l == "OK" || l == "NO" || l == "BYE" || strings.HasPrefix(l, "OK ") || strings.HasPrefix(l, "NO ") || strings.HasPrefix(l, "BYE ") {
					return l
				}
			}
		}
		final() // greeting
		resp := base64.StdEncoding.EncodeToString([]byte("\x00ann@example.test\x00" + password))
		fmt.Fprintf(conn, "AUTHENTICATE \"PLAIN\" \"%s\"\r\n", resp)
		return final()
	}
	for _, tt := range []struct {
		name, password string
		ok             bool
	}{
		{"account password", "ann-password", true},
		{"app password for ManageSieve", sievePW, true},
		{"app password for IMAP only", imapPW, false},
	} {
		if got := login(tt.password); strings.HasPrefix(got, "OK") != tt.ok {
			t.Errorf("%s: %q, want ok=%v", tt.name, got, tt.ok)
		}
	}
	on := true
	if _, err := store.UpdateSecurityPolicy(ctx, mailstore.SecurityPolicyUpdate{RequireTwoFactor: &on}); err != nil {
		t.Fatal(err)
	}
	if got := login("ann-password"); strings.HasPrefix(got, "OK") {
		t.Errorf("account password with a second factor required: %q", got)
	}
	if got := login(sievePW); !strings.HasPrefix(got, "OK") {
		t.Errorf("app password with a second factor required: %q", got)
	}
}

// startManageSieveOverStore starts a ManageSieve server on a loopback port
// on a new store with the user ann@example.test (password "ann-password"),
// wired as yubin serve wires it, and returns the store and the server's
// address.
func startManageSieveOverStore(t *testing.T) (*mailstore.Store, string) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	store, err := mailstore.Open(ctx, mailstore.Options{Dir: t.TempDir(), Database: mailstoretest.DSN(t), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.CreateDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateUser(ctx, mailstore.NewUser{Address: "ann@example.test", Password: "ann-password"}); err != nil {
		t.Fatal(err)
	}
	svc := service.New(store, log)
	srv := managesieve.NewServer(managesieve.Options{
		Backend: &sieveBackend{store: store, svc: svc}, Logger: log,
		MaxScriptSize: service.MaxSieveScriptBytes, MaxRedirects: service.MaxSieveRedirects,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return store, ln.Addr().String()
}
