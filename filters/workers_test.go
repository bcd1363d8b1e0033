package filters

import (
	"sync"
	"testing"
	"time"
)

func TestWorkersReuseAndGrow(t *testing.T) {
	w := newWorkers()
	// Calls one after the other reuse one worker.
	for range 50 {
		done := make(chan struct{})
		w.run(func() { close(done) })
		<-done
		// Let every worker get back to waiting for work. (A worker counts
		// itself idle just before it waits: a call in between starts
		// another one, so a few may exist.)
		deadline := time.Now().Add(5 * time.Second)
		for int(w.idle.Load()) != w.count() {
			if time.Now().After(deadline) {
				t.Fatal("the workers did not come back")
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	if n := w.count(); n > 3 {
		t.Errorf("%d workers after 50 sequential calls, want them reused", n)
	}

	// A call that does not return keeps its worker; others still run.
	block := make(chan struct{})
	w.run(func() { <-block })
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		w.run(wg.Done)
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("calls waited for a blocked worker")
	}
	if n := w.count(); n < 2 {
		t.Errorf("%d workers with one blocked, want at least 2", n)
	}
	close(block)
}
