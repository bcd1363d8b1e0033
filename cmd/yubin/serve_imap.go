package main

import (
	"github.com/yubinmail/yubin/internal/limits"
	"github.com/yubinmail/yubin/mailstore/imap"
)

// startIMAP starts the IMAP server on the plain (STARTTLS) and
// implicit-TLS listeners that are configured.
func (w *wiring) startIMAP() {
	b1, b2, ok := w.pair("imap", "imaps")
	if !ok {
		return
	}
	appendLimit := uint32(imap.DefaultAppendLimit)
	if m := w.cfg.MaxMessageSize; m > 0 && m < int64(^uint32(0)) {
		appendLimit = uint32(m)
	}
	srv := imap.NewServer(imap.Options{
		Store:        w.store,
		Hostname:     w.cfg.Hostname,
		TLSConfig:    w.tlsConf,
		Logger:       w.log,
		AuthLimiter:  w.authLimiter,
		InsecureAuth: w.insecureAuth(),
		AppendLimit:  appendLimit,
	})
	lim := limits.NewConnLimiter(w.cfg.MaxConnections, w.cfg.MaxConnectionsPerIP)
	w.registerConnections("imap", lim)
	for _, b := range []bound{b1, b2} {
		if b.ln != nil {
			w.sup.serve(b, w.limited(lim, b, "* BYE too many connections"), srv.Serve)
		}
	}
	w.sup.add(server{name: "imap", stop: srv.Shutdown})
}
