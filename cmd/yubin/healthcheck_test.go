package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	healthy := true
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		if !healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write([]byte(`{"status":"ok"}`))
	}))
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	check := func(args []string, env map[string]string) (int, string) {
		var out, errb bytes.Buffer
		e := &testEnv{stdout: &out, stderr: &errb, vars: env}
		code := run(context.Background(), args, e.env())
		return code, out.String() + errb.String()
	}
	tests := []struct {
		name    string
		healthy bool
		args    []string
		env     map[string]string
		code    int
	}{
		{"flag", true, []string{"healthcheck", "--addr", addr}, nil, 0},
		{"environment", true, []string{"healthcheck"}, map[string]string{"YUBIN_HTTP_ADDR": addr}, 0},
		{"unhealthy", false, []string{"healthcheck", "--addr", addr}, nil, 1},
		{"nothing listening", true, []string{"healthcheck", "--addr", "127.0.0.1:1"}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			healthy = tt.healthy
			if code, out := check(tt.args, tt.env); code != tt.code {
				t.Errorf("exit %d, want %d: %s", code, tt.code, out)
			}
		})
	}
}

// testEnv builds an env for in-process runs with the given variables.
type testEnv struct {
	stdout, stderr *bytes.Buffer
	vars           map[string]string
}

func (e *testEnv) env() *env {
	return &env{
		stdin:  strings.NewReader(""),
		stdout: e.stdout, stderr: e.stderr,
		lookupEnv: func(k string) (string, bool) { v, ok := e.vars[k]; return v, ok },
		notify:    func() (<-chan os.Signal, func()) { return make(chan os.Signal), func() {} },
	}
}
