package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/filters/dnsresolve"
	"github.com/yubinmail/yubin/filters/spam/bayesdb"
	"github.com/yubinmail/yubin/internal/config"
	"github.com/yubinmail/yubin/internal/jwtkey"
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/internal/tlsutil"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
	"github.com/yubinmail/yubin/mta"
	"github.com/yubinmail/yubin/mta/dkimkeys"
	"github.com/yubinmail/yubin/mta/outbound"
	"github.com/yubinmail/yubin/mta/queue"
	"github.com/yubinmail/yubin/mta/srs"
)

// Timeouts of the servers and of shutting down.
const (
	// shutdownGrace is how long SMTP and POP3 sessions in the middle of a
	// transaction get to finish after SIGTERM.
	shutdownGrace = 30 * time.Second
	// httpShutdownGrace bounds the REST API's shutdown.
	httpShutdownGrace = 5 * time.Second
	// healthTimeout bounds each check of /readyz.
	healthTimeout = 2 * time.Second
	// imapIdleTimeout is the IMAP autologout timer (RFC 9051 §5.4: at
	// least 30 minutes).
	imapIdleTimeout = 30 * time.Minute
)

// errForced is returned when a second signal cut the graceful shutdown
// short.
var errForced = errors.New("second signal: stopped without finishing the shutdown")

func newServeLoader() *config.Loader { return config.NewLoader("yubin serve") }

func serveCommand() *command {
	return &command{
		name:    "serve",
		summary: "run the mail server: every listener, until SIGTERM or SIGINT",
		help: `Listens on every address that is set (an empty value turns a listener
off), with TLS from YUBIN_TLS_CERT/YUBIN_TLS_KEY, from an ACME CA such as
Let's Encrypt (YUBIN_ACME=on), or a self-signed certificate made in the
data folder on first start. On SIGTERM or SIGINT
it stops accepting, lets SMTP and POP3 transactions under way finish (at
most 30 seconds) and exits 0; a second signal exits at once.`,
		run: func(ctx context.Context, e *env, inv *invocation) error {
			l := newServeLoader()
			if err := l.Parse(inv.args); errors.Is(err, flag.ErrHelp) {
				printCommandHelp(e.stdout, inv.cmd)
				return nil
			} else if err != nil {
				return &usageError{cmd: "serve", err: err}
			}
			cfg, err := l.Resolve(e.lookupEnv)
			if err != nil {
				return fmt.Errorf("configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
			}
			log := newLogger(e.stderr, cfg)
			sigs, stop := e.notify()
			defer stop()
			err = serve(ctx, cfg, log, e.stderr, sigs, e.version)
			if err != nil {
				log.Error("yubin stopped", "err", err)
			}
			return err
		},
	}
}

// newLogger returns the server's logger: text or JSON on w.
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// server is one running protocol server as the supervisor sees it.
type server struct {
	name string
	// stop stops it: gracefully until ctx ends, then at once.
	stop func(ctx context.Context) error
}

// bound is a listening socket with its configuration.
type bound struct {
	config.Listener
	ln net.Listener
}

// serve runs the servers of cfg until a signal arrives on sigs or a
// listener fails, then shuts them down. What the admin must see whatever
// the log level (the first admin's generated password) goes to console
// too.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, console io.Writer, sigs <-chan os.Signal, version string) (err error) {
	log.Info("starting yubin", "version", versionString(version), "hostname", cfg.Hostname, "data", cfg.DataDir)
	if !strings.Contains(cfg.Hostname, ".") {
		log.Warn(fmt.Sprintf("the host name %q has one label: other mail servers expect a fully qualified name in the greeting and the TLS certificate, "+
			"and may refuse or mark our mail; set YUBIN_HOSTNAME (--hostname) to the name clients and the MX record use, e.g. mail.example.com", cfg.Hostname),
			"hostname", cfg.Hostname)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	if err := mailstore.CheckOwner(cfg.DataDir); err != nil {
		return err
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	tlsConf, err := tlsutil.LoadOrCreate(cfg.DataDir, cfg.Hostname, cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return fmt.Errorf("TLS: %w", err)
	}
	if cfg.TLSCert == "" {
		log.Info("using a self-signed TLS certificate; clients will warn about it (set YUBIN_TLS_CERT and YUBIN_TLS_KEY for a real one)",
			"cert", filepath.Join(cfg.DataDir, "tls", tlsutil.SelfSignedCertFile))
	}
	spoolDir, err := prepareSpool(cfg.DataDir)
	if err != nil {
		return err
	}

	// The store and the first admin before any listener: a setting that
	// cannot work stops the start before the first "listening" line.
	var sealer *blobcrypt.Sealer
	if cfg.EncryptionKeyFile != "" {
		if sealer, err = blobcrypt.LoadServerKey(cfg.EncryptionKeyFile, cfg.DataDir); err != nil {
			return err
		}
		log.Info("message bodies are encrypted at rest", "key", cfg.EncryptionKeyFile)
	}
	// On a shared database (PostgreSQL) changes reach the other nodes.
	notifier, closeNotifier, err := nodeNotifier(ctx, cfg.Database, log)
	if err != nil {
		return err
	}
	defer closeNotifier()
	store, err := mailstore.Open(ctx, mailstore.Options{Dir: cfg.DataDir, Database: cfg.Database, BlobDir: cfg.BlobDir, Logger: log, MaxMailboxes: cfg.MaxMailboxes, Sealer: sealer, EncryptionMode: cfg.EncryptionMode,
		Notifier: notifier})
	if err != nil {
		return err
	}
	defer func() {
		if errors.Is(err, errForced) {
			return // do not wait for the writer; what was acknowledged is on disk
		}
		if cerr := store.Close(); cerr != nil {
			log.Error("closing the mailstore failed", "err", cerr)
			if err == nil {
				err = fmt.Errorf("close mailstore: %w", cerr)
			}
			return
		}
		log.Info("mailstore closed")
	}()

	outq, err := queue.Open(ctx, store, store, log)
	if err != nil {
		return err
	}
	if err := bootstrapAdmin(ctx, cfg, log, console, service.New(store, log)); err != nil {
		return err
	}

	// Login throttles and sending rates count across the nodes of a
	// shared database.
	authLimiter, err := nodeAuthLimiter(ctx, cfg.Database, store, limits.AuthLimiterConfig{IPv6Prefix: cfg.IPv6Prefix}, log)
	if err != nil {
		return err
	}
	sendRate, err := nodeSendRate(ctx, cfg.Database, store, log)
	if err != nil {
		return err
	}

	sup := newSupervisor(log)
	ready := &atomic.Bool{}
	w := &wiring{
		cfg:         cfg,
		log:         log,
		store:       store,
		queue:       outq,
		sealer:      sealer,
		tlsConf:     tlsConf,
		sup:         sup,
		authLimiter: authLimiter,
		sendRate:    sendRate,
		spoolDir:    spoolDir,
		bound:       map[string]bound{},
		metrics:     newMetrics(),
	}
	// What can fail on a setting or the data folder, before the first
	// "listening" line: the DKIM key folder and the outbound worker (made
	// before submission, which wakes it when it queues mail).
	if _, err := w.dkimKeys(); err != nil {
		return fmt.Errorf("DKIM keys: %w", err)
	}
	if _, err := w.spamClassifier(); err != nil {
		return err
	}
	if err := w.newOutbound(ctx); err != nil {
		return err
	}

	// The API's signing key: in the database, so that every node on a
	// shared one accepts the others' tokens; the key file of older
	// versions is taken over. Loaded with or without an HTTP listener, as
	// the API is built either way.
	if w.jwtKey, err = jwtkey.Load(ctx, store, sealer, filepath.Join(cfg.DataDir, "api", "jwt.key"), log); err != nil {
		return err
	}

	lns, err := bindListeners(cfg, log)
	if err != nil {
		return err
	}
	closeAll := func() {
		for _, b := range lns {
			b.ln.Close()
		}
	}
	if cfg.PprofAddr != "" {
		profiles, err := startPprof(cfg.PprofAddr, log)
		if err != nil {
			closeAll()
			return err
		}
		defer profiles.Close()
	}
	for _, b := range lns {
		w.bound[b.Name] = b
	}
	if err := w.startACME(); err != nil {
		closeAll()
		return err
	}
	apiHandler, err := w.newAPI(ctx, ready)
	if err != nil {
		closeAll()
		return err
	}
	// Submission first: it can fail (its DKIM key folder), before anything
	// runs.
	if err := w.startSubmission(); err != nil {
		closeAll()
		return err
	}
	w.startSMTP()
	w.startIMAP()
	w.startPOP3()
	w.startManageSieve()
	w.runOutbound()
	w.startStats()
	w.startSweeper()
	w.startUserKeyMoving()
	if sealer != nil {
		w.startSealing()
	}
	w.startBackups()
	w.startHTTP(apiHandler)

	// Start-up garbage (schema checks, the dashboard's compressed files,
	// filter tables) would stay resident until the runtime's scavenger
	// returns it, minutes later: collect it and give its pages back now,
	// once, so that an idle server is small from the start.
	debug.FreeOSMemory()
	ready.Store(true)
	log.Info("yubin is ready", "listeners", len(lns))

	var failure error
	select {
	case sig := <-sigs:
		log.Info("shutting down", "signal", sig.String(), "grace", shutdownGrace.String())
	case failure = <-sup.failed:
		log.Error("a listener failed; shutting down", "err", failure)
	case <-ctx.Done():
		log.Info("shutting down", "reason", ctx.Err())
	}
	ready.Store(false)

	done := make(chan struct{})
	go func() {
		defer close(done)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		defer cancel()
		sup.stopAll(sctx)
	}()
	select {
	case <-done:
	case sig := <-sigs:
		log.Warn("second signal: exiting now", "signal", sig.String())
		return errForced
	}
	log.Info("all listeners stopped")
	return failure
}

// wiring holds what the protocol servers are built from.
type wiring struct {
	cfg         *config.Config
	log         *slog.Logger
	store       *mailstore.Store
	queue       *queue.Queue   // the outbound queue, in store
	bayes       *bayesdb.Store // the spam filter's token counts; see spamClassifier
	tlsConf     *tls.Config
	sup         *supervisor
	authLimiter *limits.AuthLimiter
	spoolDir    string
	bound       map[string]bound     // by protocol name
	metrics     *prometheus.Registry // what /metrics serves
	chain       *filters.Chain       // shared by intake and submission; see filterChain
	resolver    *dnsresolve.Resolver // shared by the filters and outbound; see dnsResolver
	outbound    *outbound.Worker     // kicked when mail is queued
	acme        *acmeCerts           // the ACME certificates, if YUBIN_ACME=on
	dkim        *dkimkeys.Keys       // shared by submission and the API; see dkimKeys
	sealer      *blobcrypt.Sealer    // the server key, if bodies are encrypted at rest
	jwtKey      []byte               // the API's signing key, loaded before the listeners
	smtp        *mta.Server          // the SMTP intake, if on; for statistics
	intakeSrv   *mta.Server          // the intake, built once (intake); also when its listener is off
	submission  *mta.Server          // the submission server, if on; for statistics
	sendRate    *mta.SendRate        // users' sending rate: submission and Sieve redirects
	// readyChecks are the peers /readyz checks besides the database and
	// the listeners (clamd when a scan failure tempfails mail).
	readyChecks []readyCheck
}

// userSendRate returns the users' sending rate, shared by submission and
// the intake's Sieve redirects.
func (w *wiring) userSendRate() *mta.SendRate {
	if w.sendRate == nil {
		w.sendRate = mta.NewSendRate(0)
	}
	return w.sendRate
}

// filterChain returns the content filter chain, built (and its metrics
// registered) the first time: the intake and submission share it.
func (w *wiring) filterChain() *filters.Chain {
	if w.chain == nil {
		w.chain = w.newFilterChain()
		w.metrics.MustRegister(newFilterCollector(w.chain))
	}
	return w.chain
}

// listener returns b's socket as its server serves it: under TLS on
// implicit-TLS ports. The server's connection lifecycle applies the caps
// (connCaps).
func (w *wiring) listener(b bound) net.Listener {
	if b.TLS == "implicit" {
		return tls.NewListener(b.ln, w.tlsConf)
	}
	return b.ln
}

// connCaps returns the connection caps of a mail protocol's server
// (YUBIN_MAX_CONNECTIONS, YUBIN_MAX_CONNECTIONS_PER_IP), counted in
// /metrics.
func (w *wiring) connCaps(protocol string) *limits.ConnLimiter {
	lim := limits.NewConnLimiter(w.cfg.MaxConnections, w.cfg.MaxConnectionsPerIP).WithIPv6Prefix(w.cfg.IPv6Prefix)
	w.registerConnections(protocol, lim)
	return lim
}

// pair returns the bound listeners of a plain and an implicit-TLS protocol
// (zero values for those that are off) and whether any is on.
func (w *wiring) pair(plain, implicit string) (bound, bound, bool) {
	b1, b2 := w.bound[plain], w.bound[implicit]
	return b1, b2, b1.ln != nil || b2.ln != nil
}

// startSMTP starts the SMTP intake.
func (w *wiring) startSMTP() {
	b, ok := w.bound["smtp"]
	if !ok {
		return
	}
	srv := w.intake()
	w.metrics.MustRegister(newSMTPCollector(srv))
	w.smtp = srv
	w.sup.serve(b, w.listener(b), srv.Serve)
	w.sup.add(server{name: "smtp", stop: srv.Shutdown})
}

// intake returns the SMTP intake, built the first time: the MX listener
// serves it, and quarantine releases go through its Sieve delivery
// (whether or not the listener is on).
func (w *wiring) intake() *mta.Server {
	if w.intakeSrv != nil {
		return w.intakeSrv
	}
	// The recipients' Sieve scripts send redirects, vacation replies and
	// rejections through the outbound queue, signed as submission signs.
	var dkim mta.DKIMSource
	if keys, err := w.dkimKeys(); err != nil {
		w.log.Warn("DKIM keys unavailable: Sieve replies and redirects go out unsigned", "err", err)
	} else {
		dkim = ensuringKeys{keys}
	}
	w.intakeSrv = mta.NewServer(mta.Options{
		Store:           w.store,
		Filters:         w.filterChain(),
		Hostname:        w.cfg.Hostname,
		TLSConfig:       w.tlsConf,
		Logger:          w.log,
		MaxMessageBytes: w.cfg.MaxMessageSize,
		SpoolDir:        w.spoolDir,

		SubaddressDelimiters: w.cfg.SubaddressDelimiters,

		Enqueue:  w.enqueueOutbound,
		DKIM:     dkim,
		SendRate: w.userSendRate(),

		SRS:       w.srsRewriter(),
		ARCLookup: w.dnsResolver().LookupTXT,

		ConnLimiter: w.connCaps("smtp"),
	})
	return w.intakeSrv
}

// srsRewriter returns the SRS rewriter of forwarded mail, with the
// secrets of DATA/srs.key (made on first use; to rotate, put a new line on
// top). Without it forwards keep their sender, and bounces to SRS
// addresses are refused: logged.
func (w *wiring) srsRewriter() *srs.Rewriter {
	secrets, err := srs.LoadSecrets(filepath.Join(w.cfg.DataDir, "srs.key"))
	if err == nil {
		var r *srs.Rewriter
		if r, err = srs.New(secrets...); err == nil {
			return r
		}
	}
	w.log.Error("SRS secret unavailable: forwarded mail keeps its sender (SPF fails at the receiver) and bounces to SRS addresses are refused", "err", err)
	return nil
}

// bindListeners opens every configured listener, or none: if one cannot
// bind, the others are closed again and the error names it.
func bindListeners(cfg *config.Config, log *slog.Logger) ([]bound, error) {
	var out []bound
	for _, l := range cfg.Listeners() {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			for _, b := range out {
				b.ln.Close()
			}
			return nil, fmt.Errorf("cannot listen for %s on %s (--%s): %w", strings.ToUpper(l.Name), l.Addr, l.Setting, err)
		}
		log.Info("listening", "protocol", l.Name, "addr", ln.Addr().String(), "tls", l.TLS)
		out = append(out, bound{Listener: l, ln: ln})
	}
	return out, nil
}

// prepareSpool creates DATA/spool, where the SMTP server keeps large
// messages while they are checked, and removes what a crash left there.
// Only one server runs per data folder (lockDataDir), so nothing in it is
// in use.
func prepareSpool(dataDir string) (string, error) {
	dir := filepath.Join(dataDir, "spool")
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("clean spool folder: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create spool folder: %w", err)
	}
	return dir, nil
}

// supervisor runs Serve loops and stops their servers in order.
type supervisor struct {
	log     *slog.Logger
	servers []server // stopped together, first
	last    []server // stopped after the others (HTTP: health stays up)
	wg      sync.WaitGroup
	failed  chan error
	closing atomic.Bool
}

func newSupervisor(log *slog.Logger) *supervisor {
	return &supervisor{log: log, failed: make(chan error, 16)}
}

func (s *supervisor) add(srv server)     { s.servers = append(s.servers, srv) }
func (s *supervisor) addLast(srv server) { s.last = append(s.last, srv) }

// background runs fn in a goroutine until the shutdown, which cancels its
// context and waits for it to return (at most until the shutdown's own
// deadline).
func (s *supervisor) background(name string, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	s.add(server{name: name, stop: func(sctx context.Context) error {
		cancel()
		select {
		case <-done:
			return nil
		case <-sctx.Done():
			return sctx.Err()
		}
	}})
}

// serve runs serveFn(ln) in a goroutine. If it returns before shutdown
// began, that is a failure.
func (s *supervisor) serve(b bound, ln net.Listener, serveFn func(net.Listener) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := serveFn(ln)
		if s.closing.Load() {
			return
		}
		if err == nil || errors.Is(err, http.ErrServerClosed) {
			err = errors.New("stopped unexpectedly")
		}
		s.failed <- fmt.Errorf("%s on %s: %w", b.Name, b.ln.Addr(), err)
	}()
}

// stopAll stops every server (the mail servers in parallel, then the
// HTTP ones) and waits for their Serve loops to return.
func (s *supervisor) stopAll(ctx context.Context) {
	s.closing.Store(true)
	stopGroup := func(group []server) {
		var wg sync.WaitGroup
		for _, srv := range group {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := srv.stop(ctx); err != nil {
					s.log.Warn("server did not stop cleanly", "protocol", srv.name, "err", err)
					return
				}
				s.log.Info("server stopped", "protocol", srv.name)
			}()
		}
		wg.Wait()
	}
	stopGroup(s.servers)
	stopGroup(s.last)
	s.wg.Wait()
}
