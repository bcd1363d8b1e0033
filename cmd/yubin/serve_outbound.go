package main

import (
	"context"
	"io"
	"net"

	"github.com/yubinmail/yubin/filters/dnsresolve"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta"
	"github.com/yubinmail/yubin/mta/outbound"
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
func (w *wiring) newOutbound() error {
	keys, err := w.dkimKeys()
	if err != nil {
		return err
	}
	ob, err := outbound.New(outbound.Options{
		Store:             w.store,
		Resolver:          w.dnsResolver(),
		Hostname:          w.cfg.Hostname,
		Port:              w.cfg.OutboundPort,
		Lease:             w.cfg.OutboundLease,
		Smarthost:         w.cfg.Smarthost,
		SmarthostUser:     w.cfg.SmarthostUser,
		SmarthostPassword: w.cfg.SmarthostPassword,
		SmarthostTLS:      smarthostTLS(w.cfg.Smarthost),

		SubaddressDelimiters: w.cfg.SubaddressDelimiters,
		// Notifications are signed with the keys there are (none are
		// made for them).
		SignDKIM: func(domain string, msg io.Reader) (string, error) { return mta.SignDKIM(keys, domain, msg) },
		Logger:   w.log,
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.outbound.Run(ctx) // returns nil when ctx ends
	}()
	w.sup.add(server{name: "outbound", stop: func(sctx context.Context) error {
		cancel()
		select {
		case <-done:
			return nil
		case <-sctx.Done():
			return sctx.Err()
		}
	}})
}

// enqueueOutbound queues a message for delivery elsewhere and wakes the
// outbound worker, so that it goes out at once rather than at the next
// poll: the submission server's Enqueue hook.
func (w *wiring) enqueueOutbound(ctx context.Context, in mailstore.OutboundInput) (*mailstore.OutboundMessage, error) {
	m, err := w.store.Enqueue(ctx, in)
	if err == nil && w.outbound != nil {
		w.outbound.Kick()
	}
	return m, err
}
