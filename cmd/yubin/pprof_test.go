package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPprofServesOnLoopback takes real profiles over a real socket.
func TestPprofServesOnLoopback(t *testing.T) {
	p, err := startPprof("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	client := &http.Client{Timeout: 30 * time.Second}
	for _, tc := range []struct{ path, want string }{
		{"/debug/pprof/", "goroutine"},
		{"/debug/pprof/heap?debug=1", "heap profile"},
		{"/debug/pprof/goroutine?debug=1", "goroutine profile"},
		{"/debug/pprof/cmdline", ""},
	} {
		resp, err := client.Get("http://" + p.Addr() + tc.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s: %d, %v, body %.200q; want 200 with %q", tc.path, resp.StatusCode, err, body, tc.want)
		}
	}
	// A CPU profile of one second is a valid gzip'd protobuf.
	resp, err := client.Get("http://" + p.Addr() + "/debug/pprof/profile?seconds=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		t.Errorf("CPU profile: %d, %d bytes starting %x", resp.StatusCode, len(body), body[:min(len(body), 4)])
	}
}

// TestPprofRefusesOtherAddresses: nothing but a loopback address is bound.
func TestPprofRefusesOtherAddresses(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:0", "example.com:0", "127.0.0.1"} {
		if p, err := startPprof(addr, log); err == nil {
			p.Close()
			t.Errorf("startPprof(%q) served on %s", addr, p.Addr())
		}
	}
	if p, err := startPprof("[::1]:0", log); err == nil {
		p.Close()
	} else if !strings.Contains(err.Error(), "cannot listen") {
		t.Errorf("[::1]:0 refused for another reason than a missing IPv6 stack: %v", err)
	}
}

// TestServeRefusesPublicPprof: `yubin serve` does not start with a
// non-loopback YUBIN_PPROF_ADDR, and says why.
func TestServeRefusesPublicPprof(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var out, errb bytes.Buffer
	e := &env{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		lookupEnv: func(k string) (string, bool) {
			switch k {
			case "YUBIN_DATA":
				return dir, true
			case "YUBIN_PPROF_ADDR":
				return "0.0.0.0:6060", true
			}
			return "", false
		},
		notify: func() (<-chan os.Signal, func()) { return make(chan os.Signal), func() {} },
	}
	code := run(context.Background(), []string{"serve"}, e)
	if code != 1 || !strings.Contains(errb.String(), "YUBIN_PPROF_ADDR") || !strings.Contains(errb.String(), "loopback") {
		t.Errorf("serve with YUBIN_PPROF_ADDR=0.0.0.0:6060: exit %d, %q", code, errb.String())
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("the data folder was created although the configuration was refused")
	}
}
