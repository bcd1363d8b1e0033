package main

import (
	"crypto"
	"errors"
	"path/filepath"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta"
)

// startSubmission starts SMTP submission on the STARTTLS ("submission")
// and implicit-TLS ("submissions") listeners that are configured. It shares
// the intake's filter chain (the virus scan applies to what users send)
// and the login limiter of IMAP and POP3.
func (w *wiring) startSubmission() error {
	b1, b2, ok := w.pair("submission", "submissions")
	if !ok {
		return nil
	}
	keys, err := w.dkimKeys()
	if err != nil {
		return err
	}
	srv := mta.NewSubmissionServer(mta.SubmissionOptions{
		Store:           w.store,
		Filters:         w.filterChain(),
		Hostname:        w.cfg.Hostname,
		TLSConfig:       w.tlsConf,
		Logger:          w.log,
		AuthLimiter:     w.authLimiter,
		ConnLimiter:     w.connCaps("submission"),
		InsecureAuth:    w.insecureAuth(),
		MaxMessageBytes: w.cfg.MaxMessageSize,
		SpoolDir:        w.spoolDir,
		DKIM:            ensuringKeys{keys},
		Enqueue:         w.enqueueOutbound, // wakes the outbound worker
		SendRate:        w.userSendRate(),

		SubaddressDelimiters: w.cfg.SubaddressDelimiters,
	})
	for _, b := range []bound{b1, b2} {
		if b.ln != nil {
			w.sup.serve(b, w.listener(b), srv.Serve)
		}
	}
	w.submission = srv
	w.sup.add(server{name: "submission", stop: srv.Shutdown})
	return nil
}

// dkimKeys returns the DKIM keys in DATA/dkim, opened the first time:
// submission signs with them and the API shows their DNS records (and
// makes them for new domains), so both see the same cache.
func (w *wiring) dkimKeys() (*mailstore.DKIMKeys, error) {
	if w.dkim == nil {
		keys, err := mailstore.NewDKIMKeys(filepath.Join(w.cfg.DataDir, "dkim"))
		if err != nil {
			return nil, err
		}
		w.dkim = keys
	}
	return w.dkim, nil
}

// ensuringKeys signs with a domain's DKIM keys, making them the first time
// the domain sends (their DNS records are then shown to the administrator;
// until they are published, receivers treat the signature as absent).
type ensuringKeys struct{ *mailstore.DKIMKeys }

// Signers implements mta.DKIMSource.
func (k ensuringKeys) Signers(domain string) ([]crypto.Signer, []string, error) {
	s, sel, err := k.DKIMKeys.Signers(domain)
	if !errors.Is(err, core.ErrNotFound) {
		return s, sel, err
	}
	if _, err := k.Ensure(domain); err != nil {
		return nil, nil, err
	}
	return k.DKIMKeys.Signers(domain)
}
