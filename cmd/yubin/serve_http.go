package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	yubin "github.com/yubinmail/yubin"
	"github.com/yubinmail/yubin/api"
	"github.com/yubinmail/yubin/internal/service"
)

// generatedPasswordLen is the length of the first admin's password when
// none is configured.
const generatedPasswordLen = 20

// newAPI builds the REST API handler (with /healthz, /readyz, /metrics and
// autoconfig) and creates the first API admin if there is none.
func (w *wiring) newAPI(ctx context.Context, ready *atomic.Bool) (http.Handler, error) {
	svc := service.New(w.store, w.log)
	if err := w.bootstrapAdmin(ctx, svc); err != nil {
		return nil, err
	}
	keys, err := w.dkimKeys()
	if err != nil {
		return nil, err
	}
	if err := keys.Check(); err != nil {
		w.log.Error("DKIM KEYS UNREADABLE: mail of these domains is refused (451) until their key files can be read by this user; /readyz reports not ready", "err", err)
	}
	svc.WithDKIM(keys)
	a, err := api.New(api.Options{
		Service:     svc,
		Logger:      w.log,
		Hostname:    w.cfg.Hostname,
		DataDir:     w.cfg.DataDir,
		Clients:     w.clientSettings(),
		Ready:       w.readiness(ready),
		AuthLimiter: w.authLimiter,
		Metrics:     w.metrics,
		OpenAPI:     yubin.OpenAPI,
		DKIM:        keys,
		Resolver:    w.dnsResolver(),
	})
	if err != nil {
		return nil, err
	}
	return a.Handler(), nil
}

// bootstrapAdmin creates the first server admin: the configured one, or
// admin@HOSTNAME with a random password logged once.
func (w *wiring) bootstrapAdmin(ctx context.Context, svc *service.Service) error {
	email, password := w.cfg.AdminEmail, w.cfg.AdminPassword
	if email == "" {
		email = "admin@" + w.cfg.Hostname
	}
	generated := password == ""
	if generated {
		password = rand.Text()[:generatedPasswordLen]
	}
	created, err := svc.EnsureAdmin(ctx, email, password)
	if err != nil {
		return fmt.Errorf("create the first API admin (YUBIN_ADMIN_EMAIL, YUBIN_ADMIN_PASSWORD): %w", err)
	}
	switch {
	case created && generated:
		w.log.Warn(fmt.Sprintf("first start: created API admin %s with password %s (change it; it is not shown again)", email, password),
			"admin", email)
	case created:
		w.log.Info("created the first API admin", "admin", email)
	}
	return nil
}

// clientSettings tells mail clients the ports of the bound listeners.
func (w *wiring) clientSettings() api.ClientSettings {
	port := func(name string) int {
		b, ok := w.bound[name]
		if !ok || b.ln == nil {
			return 0
		}
		if ta, ok := b.ln.Addr().(*net.TCPAddr); ok {
			return ta.Port
		}
		return 0
	}
	return api.ClientSettings{
		Hostname:        w.cfg.Hostname,
		IMAPPort:        port("imap"),
		IMAPSPort:       port("imaps"),
		POP3Port:        port("pop3"),
		POP3SPort:       port("pop3s"),
		SubmissionPort:  port("submission"),
		SubmissionsPort: port("submissions"),
		HTTPSPort:       port("https"),
	}
}

// readyCheck is a peer /readyz checks: check returns nil while it serves.
type readyCheck struct {
	name  string
	check func(context.Context) error
}

// readiness reports ready while every listener is up, the server is not
// shutting down, the mailstore answers and takes writes (not locked by
// another process), the DKIM keys can be read (else the domains' mail is
// refused rather than sent unsigned) and every peer of w.readyChecks
// (clamd, when its failure tempfails mail) answers. The checks run
// together, each for at most healthTimeout.
func (w *wiring) readiness(ready *atomic.Bool) func() (bool, map[string]string) {
	return func() (bool, map[string]string) {
		checks := []readyCheck{
			{name: "database", check: func(ctx context.Context) error {
				if err := w.store.Ping(ctx); err != nil {
					return err
				}
				return w.store.CheckWritable(ctx)
			}},
		}
		if w.dkim != nil {
			checks = append(checks, readyCheck{name: "dkim", check: func(context.Context) error { return w.dkim.Check() }})
		}
		checks = append(checks, w.readyChecks...)
		results := make([]error, len(checks))
		var wg sync.WaitGroup
		for i, c := range checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
				defer cancel()
				results[i] = c.check(ctx)
			}()
		}
		wg.Wait()
		out := map[string]string{"listeners": "up"}
		ok := true
		if !ready.Load() {
			ok, out["listeners"] = false, "not serving"
		}
		for i, c := range checks {
			if results[i] != nil {
				ok, out[c.name] = false, "unavailable"
				w.log.Warn("not ready", "check", c.name, "err", results[i])
				continue
			}
			out[c.name] = "ok"
		}
		return ok, out
	}
}

// startHTTP serves the REST API on HTTP and HTTPS.
func (w *wiring) startHTTP(h http.Handler) {
	b1, b2, ok := w.pair("http", "https")
	if !ok {
		return
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(w.log.Handler(), slog.LevelInfo),
		TLSConfig:         w.tlsConf.Clone(),
	}
	plain := hs
	if b1.ln != nil {
		if b2.ln != nil {
			// Plain HTTP serves loopback (and, with YUBIN_INSECURE_AUTH,
			// everyone); others are sent to HTTPS so that no password or
			// token crosses a network in clear.
			plain = &http.Server{
				Handler:           redirectToHTTPS(h, w.insecureAuth(), portOf(b2.ln.Addr())),
				ReadHeaderTimeout: hs.ReadHeaderTimeout,
				ReadTimeout:       hs.ReadTimeout,
				IdleTimeout:       hs.IdleTimeout,
				ErrorLog:          hs.ErrorLog,
			}
		} else {
			w.log.Info("HTTPS is off: the API and dashboard are served over plain HTTP to every client")
		}
		w.sup.serve(b1, b1.ln, plain.Serve)
	}
	if b2.ln != nil {
		w.sup.serve(b2, b2.ln, func(ln net.Listener) error { return hs.ServeTLS(ln, "", "") })
	}
	w.sup.addLast(server{name: "http", stop: func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), httpShutdownGrace)
		defer cancel()
		if plain != hs {
			if err := plain.Shutdown(ctx); err != nil {
				w.log.Warn("HTTP shutdown", "err", err)
			}
		}
		return hs.Shutdown(ctx)
	}})
}

// redirectToHTTPS serves h to clients that allowed allows (loopback by
// default) and the health checks to everyone; other requests get a 308 to
// the same URL on the HTTPS port.
func redirectToHTTPS(h http.Handler, allowed func(net.Addr) bool, httpsPort int) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		remote, err := net.ResolveTCPAddr("tcp", r.RemoteAddr)
		if (err == nil && allowed(remote)) || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			h.ServeHTTP(rw, r)
			return
		}
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		if host == "" {
			http.Error(rw, "use HTTPS", http.StatusBadRequest)
			return
		}
		target := "https://" + net.JoinHostPort(host, strconv.Itoa(httpsPort)) + r.URL.RequestURI()
		http.Redirect(rw, r, target, http.StatusPermanentRedirect)
	})
}

// portOf returns the TCP port of a listener address.
func portOf(a net.Addr) int {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.Port
	}
	return 0
}
