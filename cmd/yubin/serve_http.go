package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	yubin "github.com/yubinmail/yubin"
	"github.com/yubinmail/yubin/api"
	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/config"
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/internal/tlsrpt"
)

// generatedPasswordLen is the length of the first admin's password when
// none is configured.
const generatedPasswordLen = 20

// newAPI builds the REST API handler (with /healthz, /readyz, /metrics and
// autoconfig). The first admin exists already (bootstrapAdmin).
func (w *wiring) newAPI(ctx context.Context, ready *atomic.Bool) (http.Handler, error) {
	classifier, err := w.spamClassifier()
	if err != nil {
		return nil, err
	}
	svc := service.New(w.store, w.log).WithQueue(w.queue).WithSpamClassifier(classifier)
	keys, err := w.dkimKeys()
	if err != nil {
		return nil, err
	}
	if err := keys.Check(ctx); err != nil {
		w.log.Error("DKIM KEYS UNREADABLE: mail of these domains is refused (451) until their keys can be read (sealed with another server key?); /readyz reports not ready", "err", err)
	}
	svc.WithDKIM(keys)
	if err := svc.WithPasskeys(w.passkeyConfig()); err != nil {
		if len(w.cfg.WebAuthnOrigins) > 0 {
			return nil, fmt.Errorf("passkeys (YUBIN_WEBAUTHN_ORIGINS): %w", err)
		}
		w.log.Warn("passkeys are off: the dashboard's origin cannot be derived from the host name; set YUBIN_WEBAUTHN_ORIGINS", "err", err)
	}
	jobs, err := w.importJobs()
	if err != nil {
		return nil, err
	}
	svc.WithImports(jobs)
	// A released message goes where the recipients' Sieve scripts put it.
	svc.WithReleaser(w.intake())
	reports, err := tlsrpt.Open(filepath.Join(w.cfg.DataDir, "tls-reports"))
	if err != nil {
		return nil, err
	}
	a, err := api.New(api.Options{
		Service:      svc,
		Logger:       w.log,
		Hostname:     w.cfg.Hostname,
		SigningKey:   w.jwtKey,
		Clients:      w.clientSettings(),
		Ready:        w.readiness(ready),
		AuthLimiter:  w.authLimiter,
		Metrics:      w.metrics,
		MetricsToken: w.cfg.MetricsToken,
		OpenAPI:      yubin.OpenAPI,
		Resolver:     w.dnsResolver(),
		TLSStatus:    w.tlsStatus,
		TLSReports:   reports,
	})
	if err != nil {
		return nil, err
	}
	return a.Handler(), nil
}

// defaultAdminEmail is the first admin's address when YUBIN_ADMIN_EMAIL is
// not set: admin@HOSTNAME, or admin@HOSTNAME.localdomain for a host name
// of one label (an address needs a domain of two).
func defaultAdminEmail(hostname string) string {
	if !strings.Contains(hostname, ".") {
		return "admin@" + hostname + ".localdomain"
	}
	return "admin@" + hostname
}

// bootstrapAdmin creates the first server admin if there is none: the
// configured one, or defaultAdminEmail with a random password that is
// written to console (standard error) as well as logged, so that it shows
// whatever the log level. Once an admin exists, YUBIN_ADMIN_EMAIL and
// YUBIN_ADMIN_PASSWORD are ignored, which it says when they are set.
func bootstrapAdmin(ctx context.Context, cfg *config.Config, log *slog.Logger, console io.Writer, svc *service.Service) error {
	email, password := cfg.AdminEmail, cfg.AdminPassword
	if email == "" {
		email = defaultAdminEmail(cfg.Hostname)
	}
	if _, err := core.NormalizeAddress(email); err != nil {
		return fmt.Errorf("the first API admin's address %q (YUBIN_ADMIN_EMAIL) is not a valid email address: %w", email, err)
	}
	generated := password == ""
	if generated {
		password = rand.Text()[:generatedPasswordLen]
	}
	created, err := svc.EnsureAdmin(ctx, email, password)
	if err != nil {
		return fmt.Errorf("create the first API admin %s (YUBIN_ADMIN_EMAIL, YUBIN_ADMIN_PASSWORD): %w", email, err)
	}
	switch {
	case created && generated:
		msg := fmt.Sprintf("first start: created the server admin %s with the password %s "+
			"(it is not shown again; change it in the dashboard under My account, or set another with 'yubin admin passwd %s')", email, password, email)
		log.Warn(msg, "admin", email)
		if console != nil {
			fmt.Fprintf(console, "\nyubin: %s\n\n", msg)
		}
	case created:
		log.Info("first start: created the server admin from YUBIN_ADMIN_EMAIL and YUBIN_ADMIN_PASSWORD", "admin", email)
	case cfg.AdminPassword != "" || cfg.AdminEmail != "":
		log.Warn("YUBIN_ADMIN_EMAIL and YUBIN_ADMIN_PASSWORD only create the first server admin on the first start; "+
			"server admins exist, so they are ignored (change passwords in the dashboard or with 'yubin admin passwd EMAIL', "+
			"add admins with 'yubin admin add EMAIL'; you may remove the variables)", "admin_email", cfg.AdminEmail)
	}
	return nil
}

// clientSettings tells mail clients the ports to use: those of the bound
// listeners, or what YUBIN_PUBLIC_PORTS puts in their place.
func (w *wiring) clientSettings() api.ClientSettings {
	port := func(name string) int {
		b, ok := w.bound[name]
		if !ok || b.ln == nil {
			return 0
		}
		if ta, ok := b.ln.Addr().(*net.TCPAddr); ok {
			return w.cfg.PublicPorts.Port(name, ta.Port)
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
		ManageSievePort: port("managesieve"),
		MTASTSMode:      w.cfg.MTASTSModeOf,
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
			checks = append(checks, readyCheck{name: "dkim", check: w.dkim.Check})
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

// HTTP server limits (issue 11 item 18): a client gets httpHeaderTimeout
// to send its request header of at most httpMaxHeaderBytes, and the
// connections are capped in total and per IP address like the mail
// protocols' (YUBIN_MAX_CONNECTIONS, YUBIN_MAX_CONNECTIONS_PER_IP).
const (
	httpHeaderTimeout  = 10 * time.Second
	httpMaxHeaderBytes = 64 << 10
)

// httpBusy is the answer to a plain HTTP connection over the caps.
const httpBusy = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\nRetry-After: 10\r\nContent-Length: 21\r\n\r\ntoo many connections\n"

// startHTTP serves the REST API on HTTP and HTTPS.
func (w *wiring) startHTTP(h http.Handler) {
	b1, b2, ok := w.pair("http", "https")
	if !ok {
		return
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpHeaderTimeout,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(w.log.Handler(), slog.LevelInfo),
		TLSConfig:         w.tlsConf.Clone(),
	}
	w.acmeHTTPS(hs.TLSConfig)
	lim := limits.NewConnLimiter(w.cfg.MaxConnections, w.cfg.MaxConnectionsPerIP)
	w.registerConnections("http", lim)
	plain := hs
	if b1.ln != nil {
		if b2.ln != nil {
			// Plain HTTP serves loopback (and, with YUBIN_INSECURE_AUTH,
			// everyone); others are sent to HTTPS so that no password or
			// token crosses a network in clear.
			plain = &http.Server{
				Handler:           redirectToHTTPS(h, w.insecureAuth(), w.cfg.Hostname, portOf(b2.ln.Addr())),
				ReadHeaderTimeout: hs.ReadHeaderTimeout,
				ReadTimeout:       hs.ReadTimeout,
				IdleTimeout:       hs.IdleTimeout,
				MaxHeaderBytes:    hs.MaxHeaderBytes,
				ErrorLog:          hs.ErrorLog,
			}
		} else {
			w.log.Info("HTTPS is off: the API and dashboard are served over plain HTTP to every client")
		}
		if w.acme != nil {
			// HTTP-01 challenges are answered before any redirect.
			if plain == hs {
				plain = &http.Server{Handler: h, ReadHeaderTimeout: hs.ReadHeaderTimeout, ReadTimeout: hs.ReadTimeout,
					IdleTimeout: hs.IdleTimeout, MaxHeaderBytes: hs.MaxHeaderBytes, ErrorLog: hs.ErrorLog}
			}
			plain.Handler = w.acme.HTTPHandler(plain.Handler)
		}
		ln := lim.Listener(b1.ln, func(c net.Conn) { _, _ = io.WriteString(c, httpBusy) })
		w.sup.serve(b1, ln, plain.Serve)
	}
	if b2.ln != nil {
		// Over the caps, an HTTPS connection is closed before the handshake.
		ln := lim.Listener(b2.ln, func(net.Conn) {})
		w.sup.serve(b2, ln, func(ln net.Listener) error { return hs.ServeTLS(ln, "", "") })
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
// the same path on hostname's HTTPS port. The target is always the
// server's own name, never the Host the client sent, so that nobody can
// make the server point a browser elsewhere.
func redirectToHTTPS(h http.Handler, allowed func(net.Addr) bool, hostname string, httpsPort int) http.Handler {
	base := "https://" + hostname
	if httpsPort != 443 {
		base = "https://" + net.JoinHostPort(hostname, strconv.Itoa(httpsPort))
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		remote, err := net.ResolveTCPAddr("tcp", r.RemoteAddr)
		if (err == nil && allowed(remote)) || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			h.ServeHTTP(rw, r)
			return
		}
		http.Redirect(rw, r, base+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// portOf returns the TCP port of a listener address.
func portOf(a net.Addr) int {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.Port
	}
	return 0
}

// passkeyConfig is the WebAuthn relying party of the dashboard: the
// configured origins, or https://HOSTNAME and, when HTTPS is announced on
// another port, https://HOSTNAME:PORT. The relying party ID is the first
// origin's host.
func (w *wiring) passkeyConfig() service.PasskeyConfig {
	origins := w.cfg.WebAuthnOrigins
	if len(origins) == 0 {
		host := strings.TrimSuffix(w.cfg.Hostname, ".")
		origins = []string{"https://" + host}
		if p := w.clientSettings().HTTPSPort; p != 0 && p != 443 {
			origins = append(origins, "https://"+net.JoinHostPort(host, strconv.Itoa(p)))
		}
	}
	rpID := ""
	if u, err := url.Parse(origins[0]); err == nil {
		rpID = u.Hostname()
	}
	return service.PasskeyConfig{RPID: rpID, Origins: origins, DisplayName: "Yubin " + rpID}
}
