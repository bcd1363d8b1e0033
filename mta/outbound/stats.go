package outbound

import "sync/atomic"

// Stats counts delivery outcomes per recipient since the Worker was made.
type Stats struct {
	// Delivered counts recipients a remote server accepted.
	Delivered uint64
	// Deferred counts temporary failures (to be retried).
	Deferred uint64
	// Failed counts permanent failures (bounced to the sender).
	Failed uint64
	// Connections counts the SMTP connections opened, Reused the
	// deliveries made on a connection kept from an earlier one.
	Connections, Reused uint64
}

type counters struct {
	delivered, deferred, failed atomic.Uint64
	connections, reused         atomic.Uint64
}

// Stats returns a snapshot of the worker's counters.
func (w *Worker) Stats() Stats {
	return Stats{
		Delivered: w.stats.delivered.Load(),
		Deferred:  w.stats.deferred.Load(),
		Failed:    w.stats.failed.Load(),

		Connections: w.stats.connections.Load(),
		Reused:      w.stats.reused.Load(),
	}
}
