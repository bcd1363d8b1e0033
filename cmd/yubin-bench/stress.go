package main

// The stress scenario: a mix of IMAP commands like imaptest's, from
// several clients at once on one shared mailbox, so that every session
// sees the others' changes (new messages, flags, expunges). Each client
// repeats a cycle: SELECT INBOX, FETCH the flags of all messages, FETCH
// the envelope of a few, FETCH one body, STORE a flag, APPEND a message,
// STORE \Deleted on one and EXPUNGE, SEARCH, a short IDLE; with login
// churn it also connects, logs in (LOGIN) and logs out (LOGOUT) in every
// cycle, without it the session stays open and SELECTs again. The mailbox
// keeps its size: one APPEND and one expunged message per cycle.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// stressCommands are the commands timed, in the report's order.
var stressCommands = []string{"LOGIN", "SELECT", "FETCH flags", "FETCH envelope", "FETCH body", "STORE", "APPEND", "EXPUNGE", "SEARCH", "IDLE", "LOGOUT"}

// stressRun is the outcome of one system's stress run.
type stressRun struct {
	Churn     bool
	Clients   int
	Elapsed   time.Duration
	Ops       int64                      // completed commands of every kind
	Latencies map[string][]time.Duration // per command, of the successful ones
	NO        map[string]int64           // tagged NO per command (e.g. a message expunged meanwhile)
	Errors    int64                      // BAD, broken connections
	FirstErr  string
	ServerCPU time.Duration
	ClientCPU time.Duration
}

func (r stressRun) opsPerSec() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

// medianLatency returns the median latency of command, or 0.
func (r stressRun) medianLatency(command string) time.Duration {
	l := slices.Clone(r.Latencies[command])
	if len(l) == 0 {
		return 0
	}
	slices.Sort(l)
	return l[len(l)/2]
}

// stressFlags are the flags STORE sets and clears.
var stressFlags = []imap.Flag{imap.FlagSeen, imap.FlagFlagged, imap.FlagAnswered, "$Label1"}

// runStress runs clients clients against sys's IMAP for d, all logged in
// as user.
func runStress(sys system, user string, clients int, d time.Duration, churn bool, t *template) stressRun {
	r := stressRun{Churn: churn, Clients: clients, Latencies: map[string][]time.Duration{}, NO: map[string]int64{}}
	var mu sync.Mutex
	// Without churn the sessions are opened and logged in before the
	// clock starts: their logins are not part of the mix.
	workers := make([]*stressWorker, clients)
	seed := uint64(time.Now().UnixNano())
	var wg sync.WaitGroup
	for i := range workers {
		w := &stressWorker{addr: sys.Addr("imap"), user: user, churn: churn, t: t,
			rng: rand.New(rand.NewPCG(uint64(i), seed)), lat: map[string][]time.Duration{}, no: map[string]int64{}}
		workers[i] = w
		if !churn {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.connect()
				clear(w.lat)
			}()
		}
	}
	wg.Wait()
	m := sys.Meter()
	cpu0 := m.cpuTotal()
	self0 := selfCPU()
	start := time.Now()
	deadline := start.Add(d)
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(deadline)
			mu.Lock()
			defer mu.Unlock()
			for k, v := range w.lat {
				r.Latencies[k] = append(r.Latencies[k], v...)
				r.Ops += int64(len(v))
			}
			for k, v := range w.no {
				r.NO[k] += v
				r.Ops += v
			}
			r.Errors += w.errors
			if r.FirstErr == "" && w.firstErr != "" {
				r.FirstErr = w.firstErr
			}
		}()
	}
	wg.Wait()
	r.Elapsed = time.Since(start)
	r.ServerCPU = m.cpuTotal() - cpu0
	r.ClientCPU = selfCPU() - self0
	return r
}

// stressWorker is one client of the stress run.
type stressWorker struct {
	addr, user string
	churn      bool
	t          *template
	rng        *rand.Rand
	c          *imapclient.Client
	lat        map[string][]time.Duration
	no         map[string]int64
	errors     int64
	firstErr   string
	buf        []byte
}

// timed runs one command and records its latency; a tagged NO counts as
// the command's NO, anything else as an error (which drops the session).
func (w *stressWorker) timed(command string, f func() error) bool {
	t := time.Now()
	err := f()
	d := time.Since(t)
	if err == nil {
		w.lat[command] = append(w.lat[command], d)
		return true
	}
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo {
		w.no[command]++
		return true
	}
	w.errors++
	if w.firstErr == "" {
		w.firstErr = fmt.Sprintf("%s: %v", command, err)
	}
	if w.c != nil {
		w.c.Close()
		w.c = nil
	}
	return false
}

func (w *stressWorker) loop(deadline time.Time) {
	defer func() {
		// A session still open at the end logs out, as imaptest's do
		// (not timed: the run is over).
		if w.c != nil {
			_ = w.c.Logout().Wait()
			w.c.Close()
		}
	}()
	for time.Now().Before(deadline) {
		if w.c == nil && !w.connect() {
			if w.errors > 100 {
				return
			}
			continue
		}
		w.cycle()
		if w.churn && w.c != nil {
			c := w.c
			w.timed("LOGOUT", func() error { return c.Logout().Wait() })
			c.Close()
			w.c = nil
		}
	}
}

// connect opens a session and logs in (timed as LOGIN).
func (w *stressWorker) connect() bool {
	conn, err := net.DialTimeout("tcp", w.addr, 10*time.Second)
	if err != nil {
		w.errors++
		w.firstErr = "connect: " + err.Error()
		return false
	}
	c := imapclient.New(conn, nil)
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		w.errors++
		return false
	}
	w.c = c
	return w.timed("LOGIN", func() error { return c.Login(w.user, password).Wait() })
}

// cycle is one round of the mix on an open session.
func (w *stressWorker) cycle() {
	c := w.c
	var uids []imap.UID
	steps := []func() bool{
		func() bool {
			return w.timed("SELECT", func() error { _, err := c.Select("INBOX", nil).Wait(); return err })
		},
		func() bool {
			return w.timed("FETCH flags", func() error {
				msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
				for _, m := range msgs {
					if m.UID != 0 {
						uids = append(uids, m.UID)
					}
				}
				return err
			})
		},
		func() bool {
			set := imap.UIDSet{}
			for range min(10, len(uids)) {
				set.AddNum(w.pick(uids))
			}
			if len(set) == 0 {
				return true
			}
			return w.timed("FETCH envelope", func() error {
				_, err := c.Fetch(set, &imap.FetchOptions{UID: true, Flags: true, Envelope: true, InternalDate: true, RFC822Size: true}).Collect()
				return err
			})
		},
		func() bool {
			if len(uids) == 0 {
				return true
			}
			return w.timed("FETCH body", func() error {
				_, err := c.Fetch(imap.UIDSetNum(w.pick(uids)), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
				return err
			})
		},
		func() bool {
			if len(uids) == 0 {
				return true
			}
			op := imap.StoreFlagsAdd
			if w.rng.IntN(2) == 0 {
				op = imap.StoreFlagsDel
			}
			f := stressFlags[w.rng.IntN(len(stressFlags))]
			return w.timed("STORE", func() error {
				_, err := c.Store(imap.UIDSetNum(w.pick(uids)), &imap.StoreFlags{Op: op, Flags: []imap.Flag{f}}, nil).Collect()
				return err
			})
		},
		func() bool {
			w.buf = w.t.render(w.buf[:0])
			return w.timed("APPEND", func() error {
				a := c.Append("INBOX", int64(len(w.buf)), nil)
				if _, err := a.Write(w.buf); err != nil {
					return err
				}
				if err := a.Close(); err != nil {
					return err
				}
				_, err := a.Wait()
				return err
			})
		},
		func() bool {
			if len(uids) == 0 {
				return true
			}
			return w.timed("STORE", func() error {
				_, err := c.Store(imap.UIDSetNum(w.pick(uids)), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect()
				return err
			}) && w.timed("EXPUNGE", func() error { _, err := c.Expunge().Collect(); return err })
		},
		func() bool {
			crit := &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}
			if w.rng.IntN(2) == 0 {
				crit = &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "sender"}}}
			}
			return w.timed("SEARCH", func() error { _, err := c.UIDSearch(crit, nil).Wait(); return err })
		},
		func() bool {
			return w.timed("IDLE", func() error {
				idle, err := c.Idle()
				if err != nil {
					return err
				}
				if err := idle.Close(); err != nil {
					return err
				}
				return idle.Wait()
			})
		},
	}
	for _, step := range steps {
		if !step() {
			return
		}
	}
}

func (w *stressWorker) pick(uids []imap.UID) imap.UID { return uids[w.rng.IntN(len(uids))] }
