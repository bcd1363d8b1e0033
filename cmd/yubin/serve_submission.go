package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
	"github.com/yubinmail/yubin/mta"
	"github.com/yubinmail/yubin/mta/dkimkeys"
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

// dkimKeys returns the DKIM keys in the database, opened the first time
// (and the key files of an older version imported): submission, the
// outbound worker and the API share them, and so their cache.
func (w *wiring) dkimKeys() (*dkimkeys.Keys, error) {
	if w.dkim == nil {
		keys, err := openDKIMKeys(context.Background(), w.store, w.sealer, w.cfg.DataDir, w.log)
		if err != nil {
			return nil, err
		}
		w.dkim = keys
	}
	return w.dkim, nil
}

// openDKIMKeys opens the DKIM keys in store, sealing new ones with the
// server key (sealer, nil without one), and imports the key files older
// versions kept in DATA/dkim (removing them once they are in the
// database). A key file that cannot be read fails it: the domain's mail
// must not be signed with new keys its DNS does not publish.
func openDKIMKeys(ctx context.Context, store *mailstore.Store, sealer *blobcrypt.Sealer, dataDir string, log *slog.Logger) (*dkimkeys.Keys, error) {
	keys, err := dkimkeys.Open(ctx, store, sealer)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(dataDir, "dkim")
	n, err := keys.Import(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("%w (make the files readable, or move the folder away to give those domains new keys)", err)
	}
	if n > 0 {
		log.Info("DKIM key files imported into the database and removed", "keys", n, "folder", dir, "sealed", sealer.CanSeal())
	}
	return keys, nil
}

// ensuringKeys signs with a domain's DKIM keys, making them the first time
// the domain sends (their DNS records are then shown to the administrator;
// until they are published, receivers treat the signature as absent).
type ensuringKeys struct{ *dkimkeys.Keys }

// Signers implements mta.DKIMSource.
func (k ensuringKeys) Signers(ctx context.Context, domain string) ([]crypto.Signer, []string, error) {
	s, sel, err := k.Keys.Signers(ctx, domain)
	if !errors.Is(err, core.ErrNotFound) {
		return s, sel, err
	}
	if _, err := k.Ensure(ctx, domain); err != nil {
		return nil, nil, err
	}
	return k.Keys.Signers(ctx, domain)
}
