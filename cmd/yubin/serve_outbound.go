package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/yubinmail/yubin/core/mtasts"
	"github.com/yubinmail/yubin/filters/dnsresolve"
	"github.com/yubinmail/yubin/mta"
	"github.com/yubinmail/yubin/mta/outbound"
	"github.com/yubinmail/yubin/mta/queue"
)

// dnsResolver returns the server's DNS resolver (YUBIN_DNS), made the first
// time: the filters and outbound delivery share it and its cache.
func (w *wiring) dnsResolver() *dnsresolve.Resolver {
	if w.resolver == nil {
		w.resolver = dnsresolve.New(dnsresolve.Options{Server: w.cfg.DNS, Logger: w.log})
	}
	return w.resolver
}

// smarthostTLS is the TLS mode for the smarthost: implicit TLS on port 465,
// STARTTLS (required, certificate verified) on any other.
func smarthostTLS(addr string) string {
	if _, port, err := net.SplitHostPort(addr); err == nil && port == "465" {
		return outbound.TLSImplicit
	}
	return outbound.TLSStartTLS
}

// newOutbound makes the worker that delivers the outbound queue: to the MX
// hosts of each recipient domain (on YUBIN_OUTBOUND_PORT), or all through
// YUBIN_SMARTHOST. runOutbound starts it.
//
// The worker's claims carry the data folder's node ID. Only one server runs
// on a data folder (its lock), so claims of this node found at start were
// left by a process that died mid-delivery (kill -9, a crash): they are
// taken back at once instead of after their lease, which stays for the
// claims of other nodes sharing the database.
func (w *wiring) newOutbound(ctx context.Context) error {
	node, err := loadNodeID(w.cfg.DataDir)
	if err != nil {
		return err
	}
	n, err := w.queue.Reclaim(ctx, node+"/")
	if err != nil {
		return err
	}
	if n > 0 {
		w.log.Info("retrying outbound deliveries the previous process left unfinished", "recipients", n)
	}
	keys, err := w.dkimKeys()
	if err != nil {
		return err
	}
	ob, err := outbound.New(outbound.Options{
		Queue:             w.queue,
		Store:             w.store,
		Resolver:          w.dnsResolver(),
		Hostname:          w.cfg.Hostname,
		NodeID:            node,
		Port:              w.cfg.OutboundPort,
		Lease:             w.cfg.OutboundLease,
		Smarthost:         w.cfg.Smarthost,
		SmarthostUser:     w.cfg.SmarthostUser,
		SmarthostPassword: w.cfg.SmarthostPassword,
		SmarthostTLS:      smarthostTLS(w.cfg.Smarthost),
		// Recipient domains' MTA-STS policies (RFC 8461), fetched over
		// HTTPS and cached.
		TLSPolicy: mtasts.NewClient(mtasts.Options{Resolver: w.dnsResolver(), Logger: w.log,
			CacheFile: filepath.Join(w.cfg.DataDir, "mta-sts-cache.json")}),

		SubaddressDelimiters: w.cfg.SubaddressDelimiters,
		// Notifications are signed with the keys there are (none are
		// made for them).
		SignDKIM: func(ctx context.Context, domain string, msg io.Reader) (string, error) {
			return mta.SignDKIM(ctx, keys, domain, msg)
		},
		Logger: w.log,
	})
	if err != nil {
		return err
	}
	w.outbound = ob
	return nil
}

// runOutbound runs the worker made by newOutbound under the supervisor.
// Stopping it abandons the deliveries under way; they are retried after
// their lease (see package outbound).
func (w *wiring) runOutbound() {
	w.registerOutbound(w.outbound)
	w.sup.background("outbound", func(ctx context.Context) {
		_ = w.outbound.Run(ctx) // returns nil when ctx ends
	})
}

// enqueueOutbound queues a message for delivery elsewhere and wakes the
// outbound worker, so that it goes out at once rather than at the next
// poll: the submission server's Enqueue hook.
func (w *wiring) enqueueOutbound(ctx context.Context, in queue.Input) (*queue.Message, error) {
	m, err := w.queue.Enqueue(ctx, in)
	if err == nil && w.outbound != nil {
		w.outbound.Kick()
	}
	return m, err
}

// nodeIDFile is the file in the data folder that names its server in the
// outbound queue's claims.
const nodeIDFile = "node-id"

// loadNodeID returns the data folder's node ID, made (random) the first
// time.
func loadNodeID(dataDir string) (string, error) {
	p := filepath.Join(dataDir, nodeIDFile)
	data, err := os.ReadFile(p)
	if err == nil {
		if id := strings.TrimSpace(string(data)); validNodeID(id) {
			return id, nil
		}
		return "", fmt.Errorf("node ID in %s is damaged: remove the file to make a new one", p)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read node ID: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := "node-" + hex.EncodeToString(b[:])
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write node ID: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("write node ID: %w", err)
	}
	return id, nil
}

// validNodeID reports whether id looks like a node ID loadNodeID made.
func validNodeID(id string) bool {
	rest, ok := strings.CutPrefix(id, "node-")
	if !ok || len(rest) != 16 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil
}
