package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheckTimeout bounds the whole check.
const healthcheckTimeout = 5 * time.Second

// healthcheckCommand asks a running server's /healthz over HTTP, so that
// container health checks need no curl or wget in the image.
func healthcheckCommand() *command {
	return &command{
		name:    "healthcheck",
		summary: "exit 0 if the local server answers /healthz, 1 if not",
		help: "Asks http://ADDR/healthz of a running `yubin serve`, where ADDR is --addr, else YUBIN_HTTP_ADDR,\n" +
			"else :8080 (a host-less address means 127.0.0.1). Meant for container health checks.",
		flags: func(fs *flag.FlagSet) {
			fs.String("addr", "", "HTTP address of the server (default: YUBIN_HTTP_ADDR or :8080)")
		},
		run: func(ctx context.Context, e *env, inv *invocation) error {
			if err := inv.wantArgs(0, 0); err != nil {
				return err
			}
			addr := inv.fs.Lookup("addr").Value.String()
			if addr == "" {
				if v, ok := e.lookupEnv("YUBIN_HTTP_ADDR"); ok && v != "" {
					addr = v
				} else {
					addr = ":8080"
				}
			}
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return fmt.Errorf("healthcheck: address %q: %w", addr, err)
			}
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
			defer cancel()
			url := "http://" + net.JoinHostPort(host, port) + "/healthz"
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return fmt.Errorf("healthcheck: %w", err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("healthcheck %s: %w", url, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("healthcheck %s: %s %s", url, resp.Status, body)
			}
			fmt.Fprintf(e.stdout, "%s", body)
			return nil
		},
	}
}
