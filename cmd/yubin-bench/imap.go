package main

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// imapLogin opens a plain IMAP connection to addr and logs in.
func imapLogin(addr, user, pass string) (*imapclient.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := imapclient.New(conn, nil)
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, fmt.Errorf("IMAP greeting: %w", err)
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("IMAP LOGIN %s: %w", user, err)
	}
	return c, nil
}

// inboxCount logs in as user and returns the number of messages in INBOX
// (EXAMINE: read-only, so that nothing loses \Recent or changes).
func inboxCount(addr, user, pass string) (uint32, error) {
	c, err := imapLogin(addr, user, pass)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	sd, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return 0, fmt.Errorf("EXAMINE INBOX: %w", err)
	}
	_ = c.Logout().Wait()
	return sd.NumMessages, nil
}

// inboxWatcher is an IMAP session, logged in before a measurement, that
// counts the messages in INBOX with STATUS: polling it costs the server no
// login (a password hash) while it is being measured.
type inboxWatcher struct {
	c *imapclient.Client
}

func newInboxWatcher(addr, user, pass string) (*inboxWatcher, error) {
	c, err := imapLogin(addr, user, pass)
	if err != nil {
		return nil, err
	}
	return &inboxWatcher{c: c}, nil
}

func (w *inboxWatcher) count() (uint32, error) {
	sd, err := w.c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return 0, fmt.Errorf("STATUS INBOX: %w", err)
	}
	if sd.NumMessages == nil {
		return 0, fmt.Errorf("STATUS INBOX: no MESSAGES")
	}
	return *sd.NumMessages, nil
}

// waitFor polls every 5 ms until INBOX holds want messages or timeout
// passes; it returns the last count and how long it took.
func (w *inboxWatcher) waitFor(want uint32, timeout time.Duration) (uint32, time.Duration, error) {
	start := time.Now()
	for {
		n, err := w.count()
		if err != nil || n >= want {
			return n, time.Since(start), err
		}
		if time.Since(start) > timeout {
			return n, time.Since(start), fmt.Errorf("INBOX holds %d messages after %s, want %d", n, timeout, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *inboxWatcher) close() {
	_ = w.c.Logout().Wait()
	w.c.Close()
}

// waitInboxCount waits until user's INBOX holds want messages.
func waitInboxCount(addr, user, pass string, want uint32, timeout time.Duration) (uint32, time.Duration, error) {
	w, err := newInboxWatcher(addr, user, pass)
	if err != nil {
		return 0, 0, err
	}
	defer w.close()
	return w.waitFor(want, timeout)
}

// fetchRun is one FETCH of a whole mailbox.
type fetchRun struct {
	Messages  int
	Bytes     int64
	Elapsed   time.Duration
	ServerCPU time.Duration
	ClientCPU time.Duration
}

// fetchAll selects INBOX on c and fetches BODY.PEEK[] of every message
// (UID FETCH 1:* with uid), reading every literal to the end. The clock
// covers only the FETCH command.
func fetchAll(c *imapclient.Client, uid bool, m meter) (fetchRun, error) {
	var r fetchRun
	var set imap.NumSet = imap.SeqSet{{Start: 1, Stop: 0}} // 1:*
	if uid {
		set = imap.UIDSet{{Start: 1, Stop: 0}}
	}
	opts := &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}
	cpu0 := m.cpuTotal()
	self0 := selfCPU()
	start := time.Now()
	cmd := c.Fetch(set, opts)
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		got := false
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			if b, ok := item.(imapclient.FetchItemDataBodySection); ok && b.Literal != nil {
				n, err := io.Copy(io.Discard, b.Literal)
				if err != nil {
					cmd.Close()
					return r, fmt.Errorf("read body: %w", err)
				}
				r.Bytes += n
				got = true
			}
		}
		if !got {
			cmd.Close()
			return r, fmt.Errorf("a FETCH response without BODY[]")
		}
		r.Messages++
	}
	if err := cmd.Close(); err != nil {
		return r, fmt.Errorf("FETCH: %w", err)
	}
	r.Elapsed = time.Since(start)
	r.ServerCPU = m.cpuTotal() - cpu0
	r.ClientCPU = selfCPU() - self0
	return r, nil
}

// memRun is the outcome of the idle-connection memory measurement.
type memRun struct {
	Idle      memSample // after the warm-up login, before the connections
	Half      memSample // after half of them
	Full      memSample // after all of them
	Conns     int
	OpenTime  time.Duration
	Settle    time.Duration
	ServerCPU time.Duration
}

// idleConns opens n IMAP connections to addr, each logged in as user with
// INBOX selected, and measures the server's RSS before, at half and at the
// end, each after settle. It closes the connections before returning.
func idleConns(addr, user, pass string, n int, settle time.Duration, m meter) (memRun, error) {
	r := memRun{Conns: n, Settle: settle}
	// Warm-up: the first login fills the password cache and starts the
	// mailbox's shared state; that is not per-connection memory.
	warm, err := imapLogin(addr, user, pass)
	if err != nil {
		return r, err
	}
	if _, err := warm.Select("INBOX", nil).Wait(); err != nil {
		warm.Close()
		return r, fmt.Errorf("SELECT INBOX: %w", err)
	}
	defer warm.Close()
	time.Sleep(settle)
	r.Idle = m.mem()
	cpu0 := m.cpuTotal()
	clients := make([]*imapclient.Client, 0, n)
	defer func() {
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.Logout().Wait()
				c.Close()
			}()
		}
		wg.Wait()
	}()
	start := time.Now()
	open := func(k int) error {
		// Open in parallel batches, as many devices reconnecting would.
		const par = 16
		var mu sync.Mutex
		var firstErr error
		var wg sync.WaitGroup
		sem := make(chan struct{}, par)
		for i := 0; i < k; i++ {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c, err := imapLogin(addr, user, pass)
				if err == nil {
					if _, serr := c.Select("INBOX", nil).Wait(); serr != nil {
						c.Close()
						err = fmt.Errorf("SELECT INBOX: %w", serr)
					}
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					return
				}
				clients = append(clients, c)
			}()
		}
		wg.Wait()
		return firstErr
	}
	if err := open(n / 2); err != nil {
		return r, fmt.Errorf("after %d connections: %w", len(clients), err)
	}
	time.Sleep(settle)
	r.Half = m.mem()
	if err := open(n - n/2); err != nil {
		return r, fmt.Errorf("after %d connections: %w", len(clients), err)
	}
	r.OpenTime = time.Since(start) - settle
	r.ServerCPU = m.cpuTotal() - cpu0
	time.Sleep(settle)
	r.Full = m.mem()
	// Every connection must still be alive (not dropped by a limit).
	for _, c := range clients {
		select {
		case <-c.Closed():
			return r, fmt.Errorf("a connection was closed by the server while idle")
		default:
		}
	}
	if len(clients) != n {
		return r, fmt.Errorf("only %d of %d connections open", len(clients), n)
	}
	return r, nil
}
