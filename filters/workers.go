package filters

import (
	"sync"
	"sync/atomic"
	"time"
)

// workerIdle is how long an idle stage worker waits for work before it
// exits.
const workerIdle = 30 * time.Second

// workers runs the chain's stage calls on goroutines that outlive them.
//
// A stage runs on a goroutine of its own so that the chain can move on when
// the stage's context ends even if the filter does not return. A new
// goroutine per call would start with a small stack and grow it by copying
// every time a filter's deep call tree (DKIM, MIME parsing, crypto) needs
// more: kept workers keep their grown stacks. A call that never returns
// keeps its worker; another one is started when no worker is idle.
type workers struct {
	work chan func() // unbuffered: a send succeeds only if a worker is idle

	idle atomic.Int32 // workers waiting for work, for tests

	mu   sync.Mutex
	busy int // workers running (idle or not), for tests
}

func newWorkers() *workers { return &workers{work: make(chan func())} }

// run runs f on an idle worker, or on a new one if none is idle.
func (w *workers) run(f func()) {
	select {
	case w.work <- f:
	default:
		w.mu.Lock()
		w.busy++
		w.mu.Unlock()
		go w.loop(f)
	}
}

// loop runs f, then whatever work comes, until it has been idle for
// workerIdle.
func (w *workers) loop(f func()) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		f()
		t.Reset(workerIdle)
		w.idle.Add(1)
		select {
		case f = <-w.work:
			w.idle.Add(-1)
		case <-t.C:
			w.idle.Add(-1)
			w.mu.Lock()
			w.busy--
			w.mu.Unlock()
			return
		}
	}
}

// count returns the number of workers alive.
func (w *workers) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.busy
}
