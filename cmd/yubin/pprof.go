package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/yubinmail/yubin/internal/config"
)

// pprofServer serves Go's runtime profiles (net/http/pprof) for
// YUBIN_PPROF_ADDR, on a loopback address only: profiles show memory
// contents such as addresses and message fragments, and a CPU profile costs
// the server time, so they are never offered to the network.
type pprofServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// startPprof listens on addr, which must be a loopback address, and serves
// /debug/pprof/ there until Close.
func startPprof(addr string, log *slog.Logger) (*pprofServer, error) {
	if err := config.ValidateLoopbackAddr(addr); err != nil {
		return nil, fmt.Errorf("YUBIN_PPROF_ADDR: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for pprof on %s (--pprof-addr): %w", addr, err)
	}
	// "localhost" could resolve to anything: check what was bound.
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("pprof: %s resolved to %s, which is not a loopback address", addr, ln.Addr())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	p := &pprofServer{
		// No write timeout: a CPU profile or trace streams for as long as
		// its ?seconds= asks.
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		ln:   ln,
		done: make(chan struct{}),
	}
	log.Info("listening", "protocol", "pprof", "addr", ln.Addr().String(), "tls", "none")
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof server failed", "err", err)
		}
	}()
	return p, nil
}

// Addr is the address the profiles are served on.
func (p *pprofServer) Addr() string { return p.ln.Addr().String() }

// Close stops serving at once: a profile being taken is cut short.
func (p *pprofServer) Close() {
	_ = p.srv.Close()
	<-p.done
}
