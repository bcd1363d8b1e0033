package main

import (
	"net"

	"github.com/yubinmail/yubin/pop3server"
)

// startPOP3 starts the POP3 server on the plain (STLS) and implicit-TLS
// listeners that are configured.
func (w *wiring) startPOP3() {
	b1, b2, ok := w.pair("pop3", "pop3s")
	if !ok {
		return
	}
	srv := pop3server.NewServer(pop3server.Options{
		Backend:      pop3server.NewStoreBackend(w.store),
		Hostname:     w.cfg.Hostname,
		TLSConfig:    w.tlsConf,
		Logger:       w.log,
		AuthLimiter:  w.authLimiter,
		ConnLimiter:  w.connCaps("pop3"),
		InsecureAuth: w.insecureAuth(),
	})
	for _, b := range []bound{b1, b2} {
		if b.ln != nil {
			w.sup.serve(b, w.listener(b), srv.Serve)
		}
	}
	w.sup.add(server{name: "pop3", stop: srv.Shutdown})
}

// insecureAuth is the policy for logins without TLS shared by IMAP and
// POP3: from loopback only, or from anywhere when the configuration allows
// it (YUBIN_INSECURE_AUTH).
func (w *wiring) insecureAuth() func(net.Addr) bool {
	if w.cfg.InsecureAuth {
		return func(net.Addr) bool { return true }
	}
	return func(a net.Addr) bool {
		ta, ok := a.(*net.TCPAddr)
		return ok && ta.IP.IsLoopback()
	}
}
