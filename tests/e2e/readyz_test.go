package e2e

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	yubindb "github.com/yubinmail/yubin/internal/db"

	"github.com/yubinmail/yubin/internal/testdb"
)

// readyz returns the status and body of GET /readyz.
func readyz(t *testing.T, srv *server) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get("http://" + srv.addrs["http"] + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitReadyz polls /readyz until it answers want.
func waitReadyz(t *testing.T, srv *server, want int, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, body := readyz(t, srv)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answers %d %s, want %d", code, body, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReadyzDatabaseLocked holds the database's write lock from outside
// the server (as a stuck process would): /readyz must say not ready while
// it is held, and ready again once it is released (issue 11).
func TestReadyzDatabaseLocked(t *testing.T) {
	if testdb.Server(t) != "" {
		t.Skip("locks the SQLite database file; a PostgreSQL server's locks are row locks")
	}
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	srv := newServer(t, dir)
	srv.start()

	db, err := yubindb.OpenSQLiteFile(filepath.Join(dir, "yubin.db"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	code, body := readyz(t, srv)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"database":"unavailable"`) {
		t.Errorf("with the database locked: /readyz %d %s, want 503 naming the database", code, body)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	waitReadyz(t, srv, http.StatusOK, 30*time.Second)
	srv.stop()
}

// TestReadyzClamdDown configures a clamd that is not there (mail then
// tempfails): /readyz must say not ready until clamd answers (issue 11).
func TestReadyzClamdDown(t *testing.T) {
	t.Parallel()
	port := freePorts(t, 1)[0]
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	dir := filepath.Join(t.TempDir(), "data")
	srv := newServer(t, dir, "YUBIN_CLAMD="+addr, "YUBIN_CLAMD_ON_ERROR=tempfail")
	srv.startNoWait()
	srv.waitLog("yubin is ready", 30*time.Second)
	code, body := readyz(t, srv)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"clamd":"unavailable"`) {
		t.Errorf("with clamd down: /readyz %d %s, want 503 naming clamd", code, body)
	}

	// clamd comes up: a minimal one that answers PING.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port of the missing clamd was taken meanwhile: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				cmd, err := bufio.NewReader(c).ReadString(0)
				if err == nil && cmd == "zPING\x00" {
					_, _ = io.WriteString(c, "PONG\x00")
				}
			}()
		}
	}()
	body = waitReadyz(t, srv, http.StatusOK, 30*time.Second)
	if !strings.Contains(body, "ready") {
		t.Errorf("/readyz body %q", body)
	}
	srv.stop()
}
