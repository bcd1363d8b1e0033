package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The API admin the server is started with (YUBIN_ADMIN_EMAIL,
// YUBIN_ADMIN_PASSWORD), and the domain the api scenario's users go in.
const (
	apiAdmin         = "bench-admin@" + domain
	apiAdminPassword = "bench-admin-password-1234"
	apiDomain        = "api." + domain
	apiPageSize      = 50
)

// apiRun is one API measurement: many clients sending one kind of request.
type apiRun struct {
	Requests  int64 // answered with the expected status
	Errors    int64 // anything else, transport errors included
	FirstErr  string
	Elapsed   time.Duration
	P50, P99  time.Duration // of the successful requests
	ServerCPU time.Duration
	ClientCPU time.Duration
}

func (r apiRun) rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// apiClient is a REST API client with an admin's access token, shared by
// the load's goroutines; it logs in again when the token is refused.
type apiClient struct {
	base string
	http *http.Client

	mu    sync.Mutex
	token string
}

func newAPIClient(addr string, conns int) *apiClient {
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
	}
	return &apiClient{base: "http://" + addr, http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

func (c *apiClient) close() { c.http.CloseIdleConnections() }

// login gets a fresh access token.
func (c *apiClient) login(ctx context.Context) error {
	var tok struct {
		Token string `json:"token"`
	}
	status, body, err := c.send(ctx, http.MethodPost, "/api/v1/auth/login", map[string]string{"email": apiAdmin, "password": apiAdminPassword}, "")
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("login as %s: %d %s", apiAdmin, status, firstLine(string(body)))
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.Token == "" {
		return fmt.Errorf("login: no token in %q", body)
	}
	c.mu.Lock()
	c.token = tok.Token
	c.mu.Unlock()
	return nil
}

// do sends an authenticated request and returns the status and body; a 401
// (expired token) leads to one new login and one retry.
func (c *apiClient) do(ctx context.Context, method, path string, in any) (int, []byte, error) {
	c.mu.Lock()
	tok := c.token
	c.mu.Unlock()
	status, body, err := c.send(ctx, method, path, in, tok)
	if err != nil || status != http.StatusUnauthorized {
		return status, body, err
	}
	c.mu.Lock()
	same := c.token == tok
	c.mu.Unlock()
	if same {
		if err := c.login(ctx); err != nil {
			return status, body, err
		}
	}
	c.mu.Lock()
	tok = c.token
	c.mu.Unlock()
	return c.send(ctx, method, path, in, tok)
}

func (c *apiClient) send(ctx context.Context, method, path string, in any, token string) (int, []byte, error) {
	var r io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// apiLoad runs clients goroutines that each call one() in a loop until
// next says stop, and measures the successful calls' latencies.
// one returns an error for an unexpected answer.
func apiLoad(ctx context.Context, pid, clients int, next func() (int, bool), one func(i int) error) apiRun {
	var (
		mu        sync.Mutex
		lat       []time.Duration
		run       apiRun
		requests  atomic.Int64
		errCount  atomic.Int64
		wg        sync.WaitGroup
		firstErr  sync.Once
		firstText string
	)
	cpu0, _ := procCPU(pid)
	self0 := selfCPU()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				i, ok := next()
				if !ok {
					break
				}
				t0 := time.Now()
				err := one(i)
				d := time.Since(t0)
				if err != nil {
					errCount.Add(1)
					firstErr.Do(func() { firstText = err.Error() })
					continue
				}
				requests.Add(1)
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	run.Elapsed = time.Since(start)
	if cpu1, err := procCPU(pid); err == nil {
		run.ServerCPU = cpu1 - cpu0
	}
	run.ClientCPU = selfCPU() - self0
	run.Requests, run.Errors, run.FirstErr = requests.Load(), errCount.Load(), firstText
	slices.Sort(lat)
	run.P50, run.P99 = percentile(lat, 50), percentile(lat, 99)
	return run
}

// percentile returns the p-th percentile (nearest rank) of sorted
// durations, 0 for none.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 × n)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// apiCreateUsers creates n users in apiDomain over POST /api/v1/users with
// clients concurrent clients. The addresses carry a stamp of the run, so
// that a reused data folder does not make them conflict.
func apiCreateUsers(ctx context.Context, c *apiClient, pid, n, clients int) apiRun {
	stamp := time.Now().Format("150405")
	var seq atomic.Int64
	next := func() (int, bool) {
		i := int(seq.Add(1))
		return i, i <= n
	}
	return apiLoad(ctx, pid, clients, next, func(i int) error {
		u := map[string]any{
			"address":     fmt.Sprintf("u%s-%05d@%s", stamp, i, apiDomain),
			"password":    fmt.Sprintf("bench-user-password-%05d", i),
			"quota_bytes": 100 << 20,
		}
		status, body, err := c.do(ctx, http.MethodPost, "/api/v1/users", u)
		if err != nil {
			return err
		}
		if status != http.StatusCreated {
			return fmt.Errorf("POST /api/v1/users: %d %s", status, firstLine(string(body)))
		}
		return nil
	})
}

// apiListUsers pages through the users with GET /api/v1/users?limit=50&
// offset=random for d, with clients concurrent clients. total is the
// number of users there are (so that every page is full).
func apiListUsers(ctx context.Context, c *apiClient, pid, total, clients int, d time.Duration) apiRun {
	deadline := time.Now().Add(d)
	next := func() (int, bool) { return 0, time.Now().Before(deadline) }
	return apiLoad(ctx, pid, clients, next, func(int) error {
		offset := rand.IntN(max(total-apiPageSize, 0) + 1)
		path := fmt.Sprintf("/api/v1/users?limit=%d&offset=%d", apiPageSize, offset)
		status, body, err := c.do(ctx, http.MethodGet, path, nil)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("GET %s: %d %s", path, status, firstLine(string(body)))
		}
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		if want := min(apiPageSize, total-offset); len(page.Items) < want {
			return fmt.Errorf("GET %s: %d items, want %d", path, len(page.Items), want)
		}
		return nil
	})
}

// apiUserTotal returns the number of users the admin sees.
func apiUserTotal(ctx context.Context, c *apiClient) (int, error) {
	status, body, err := c.do(ctx, http.MethodGet, "/api/v1/users?limit=1", nil)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("GET /api/v1/users: %d %s", status, firstLine(string(body)))
	}
	var page struct {
		Total int `json:"total"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return 0, err
	}
	return page.Total, nil
}

// apiResult is the api scenario's outcome.
type apiResult struct {
	ran          bool
	users        int // users there were during the list measurement
	create, list apiRun
	err          string
}

func runAPI(ctx context.Context, o *options, rep *report, srv *server) {
	res := &rep.api
	res.ran = true
	addr := srv.Addr("http")
	if addr == "" {
		res.err = "the server has no HTTP listener"
		return
	}
	c := newAPIClient(addr, o.apiClients)
	defer c.close()
	if err := c.login(ctx); err != nil {
		res.err = err.Error()
		return
	}
	status, body, err := c.do(ctx, http.MethodPost, "/api/v1/domains", map[string]any{"name": apiDomain})
	switch {
	case err != nil:
		res.err = err.Error()
		return
	case status == http.StatusConflict:
		o.logf("api: domain %s exists already", apiDomain)
	case status != http.StatusCreated:
		res.err = fmt.Sprintf("POST /api/v1/domains: %d %s", status, firstLine(string(body)))
		return
	}

	o.logf("api: creating %d users with %d clients", o.apiUsers, o.apiClients)
	res.create = apiCreateUsers(ctx, c, srv.pid, o.apiUsers, o.apiClients)
	o.logf("  %s", res.create.summary())
	if ctx.Err() != nil {
		return
	}
	total, err := apiUserTotal(ctx, c)
	if err != nil {
		res.err = err.Error()
		return
	}
	res.users = total
	o.logf("api: listing %d users, %d per page at random offsets, %d clients for %s", total, apiPageSize, o.apiClients, o.apiDuration)
	res.list = apiListUsers(ctx, c, srv.pid, total, o.apiClients, o.apiDuration)
	o.logf("  %s", res.list.summary())
	var errs []string
	for _, r := range []apiRun{res.create, res.list} {
		if r.Errors > 0 {
			errs = append(errs, fmt.Sprintf("%d failed requests, the first: %s", r.Errors, r.FirstErr))
		}
	}
	if len(errs) > 0 {
		res.err = strings.Join(errs, "; ")
	}
	if res.create.Requests != int64(o.apiUsers) && res.err == "" && ctx.Err() == nil {
		res.err = fmt.Sprintf("%d users created, want %d", res.create.Requests, o.apiUsers)
	}
}

func (r apiRun) summary() string {
	s := fmt.Sprintf("%d requests in %s: %.0f req/s, p50 %s, p99 %s, server CPU %.2f ms/req",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.rate(), r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.cpuPerReq())
	if r.Errors > 0 {
		s += fmt.Sprintf("; %d ERRORS, the first: %s", r.Errors, r.FirstErr)
	}
	return s
}

func (r apiRun) cpuPerReq() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.ServerCPU) / float64(time.Millisecond) / float64(r.Requests)
}
