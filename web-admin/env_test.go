package webadmin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/yubinmail/yubin/api"
	"github.com/yubinmail/yubin/internal/importer"
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
	"github.com/yubinmail/yubin/mta/queue"
)

const (
	testAdmin   = "admin@example.net"
	testAdminPW = "admin-password"
)

// testServer is the API (with the dashboard) over a real mailstore.
type testServer struct {
	*httptest.Server
	svc   *service.Service
	store *mailstore.Store // for setting up what the API does not do
	queue *queue.Queue     // the outbound queue the service manages
}

// newServer starts the API in-process, with testAdmin as the server admin.
func newServer(t *testing.T) *testServer {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := mailstore.Open(ctx, mailstore.Options{Dir: dir, Database: mailstoretest.DSNIn(t, dir), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	q, err := queue.Open(ctx, store, store, log)
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(store, log).WithQueue(q)
	if _, err := svc.EnsureAdmin(ctx, testAdmin, testAdminPW); err != nil {
		t.Fatal(err)
	}
	jctx, stopJobs := context.WithCancel(ctx)
	jobs, err := importer.NewJobs(jctx, store, filepath.Join(dir, "import.key"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopJobs(); jobs.Wait() })
	svc.WithImports(jobs)
	a, err := api.New(api.Options{
		Service:     svc,
		Logger:      log,
		Hostname:    "mail.example.net",
		Clients:     api.ClientSettings{Hostname: "mail.example.net", IMAPSPort: 2993, SubmissionsPort: 2465, POP3SPort: 2995},
		AuthLimiter: limits.NewAuthLimiter(limits.AuthLimiterConfig{FreeFailures: 1000, BlockAfter: 1000, BlockAfterIP: 1000}),
		Resolver:    fakeResolver{},
		TLSStatus:   testTLSStatus,
		TLSReports:  testTLSReports(t, dir),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, svc: svc, store: store, queue: q}
}

// call sends a JSON request to the API and fails unless it answers want.
func (s *testServer) call(t *testing.T, method, path, token string, body any, want int, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
}

// login returns an access token.
func (s *testServer) login(t *testing.T, email, password string) string {
	t.Helper()
	var tok struct {
		Token string `json:"token"`
	}
	s.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, http.StatusOK, &tok)
	return tok.Token
}

// addUsers creates domain with n users, u00@domain and on.
func (s *testServer) addUsers(t *testing.T, domain string, n int) {
	t.Helper()
	admin := s.login(t, testAdmin, testAdminPW)
	s.call(t, "POST", "/api/v1/domains", admin, map[string]any{"name": domain}, http.StatusCreated, nil)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.call(t, "POST", "/api/v1/users", admin, map[string]any{"address": fmt.Sprintf("u%02d@%s", i, domain), "password": "user-password"}, http.StatusCreated, nil)
		}()
	}
	wg.Wait()
}

// fakeResolver is the test's DNS: every name has mail.example.net as MX
// and no TXT records, so a DNS check finds the MX and misses the rest.
type fakeResolver struct{}

func (fakeResolver) LookupMX(context.Context, string) ([]*net.MX, error) {
	return []*net.MX{{Host: "mail.example.net.", Pref: 10}}, nil
}

func (fakeResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
