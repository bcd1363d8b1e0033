package main

// The REST API (a later issue) replaces this file with its gin router,
// which keeps serving /healthz and /readyz.

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/yubinmail/yubin/mailstore"
)

// healthTimeout bounds the database ping of a health check.
const healthTimeout = 2 * time.Second

// healthHandler serves GET /healthz (200 "ok" while the mailstore answers,
// else 503) and GET /readyz (200 "ready" while every listener is up and the
// server is not shutting down, else 503).
func healthHandler(store *mailstore.Store, ready *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			http.Error(w, "mailstore unavailable", http.StatusServiceUnavailable)
			return
		}
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			http.Error(w, "mailstore unavailable", http.StatusServiceUnavailable)
			return
		}
		writeText(w, http.StatusOK, "ready")
	})
	return mux
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body + "\n"))
}
