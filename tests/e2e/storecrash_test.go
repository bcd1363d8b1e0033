package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// TestFlagsSurviveKill9 checks what a tagged OK to STORE and EXPUNGE
// promises: the change is committed to stable storage before the OK is
// sent, so it survives the server being killed right after. Four IMAP
// sessions each rewrite the flags of their own message again and again
// (STORE FLAGS ($vN), N counting up) while a fifth expunges messages one by
// one; the server is killed with SIGKILL in the middle. After a restart,
// every session's message carries the last acknowledged $vN or the one
// that was in flight, and every acknowledged EXPUNGE is gone.
func TestFlagsSurviveKill9(t *testing.T) {
	const user, password = "flags@example.com", "flags-durability-pw"
	const writers, expungeable = 4, 30
	dir := filepath.Join(t.TempDir(), "data")
	mustCLI(t, "", nil, "domain", "add", "example.com", "--data", dir)
	mustCLI(t, "", nil, "user", "add", user, "--password", password, "--data", dir)
	srv := newServer(t, dir)
	srv.start()
	sc, err := smtp.Dial(srv.addrs["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Hello("sender.test"); err != nil {
		t.Fatal(err)
	}
	for i := range writers + expungeable {
		msg := fmt.Sprintf("From: a@remote.test\r\nTo: %s\r\nSubject: flags %d\r\n\r\nbody %d\r\n", user, i, i)
		if err := sc.SendMail("a@remote.test", []string{user}, strings.NewReader(msg)); err != nil {
			t.Fatalf("deliver message %d: %v", i, err)
		}
	}
	sc.Quit()
	login := func() *imapclient.Client {
		t.Helper()
		c, err := imapclient.DialStartTLS(srv.addrs["imap"], &imapclient.Options{TLSConfig: srv.tlsConfig()})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login(user, password).Wait(); err != nil {
			t.Fatalf("IMAP LOGIN: %v", err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatalf("IMAP SELECT: %v", err)
		}
		return c
	}

	var mu sync.Mutex
	acked := make([]int, writers) // last acknowledged N per writer; -1: none
	var expunged []imap.UID       // acknowledged expunges
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		acked[w] = -1
		c := login()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			uid := imap.UID(w + 1)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				flags := &imap.StoreFlags{Op: imap.StoreFlagsSet, Silent: true, Flags: []imap.Flag{imap.Flag(fmt.Sprintf("$v%d", n))}}
				if err := c.Store(imap.UIDSetNum(uid), flags, nil).Close(); err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[w] = n
				mu.Unlock()
			}
		}()
	}
	ex := login()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer ex.Close()
		for i := range expungeable {
			select {
			case <-stop:
				return
			default:
			}
			uid := imap.UID(writers + 1 + i)
			del := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
			if err := ex.Store(imap.UIDSetNum(uid), del, nil).Close(); err != nil {
				return
			}
			if err := ex.UIDExpunge(imap.UIDSetNum(uid)).Close(); err != nil {
				return
			}
			mu.Lock()
			expunged = append(expunged, uid)
			mu.Unlock()
		}
	}()

	// Kill once every writer has had a few acknowledgements.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		least := acked[0]
		for _, n := range acked {
			least = min(least, n)
		}
		nExp := len(expunged)
		mu.Unlock()
		if least >= 3 && nExp >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("too few acknowledged commands within 60 s (least %d STOREs, %d EXPUNGEs)", least, nExp)
		}
	}
	srv.kill9()
	close(stop)
	wg.Wait()

	srv.start()
	defer srv.stop()
	c := login()
	defer c.Close()
	bufs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatalf("IMAP FETCH after the restart: %v", err)
	}
	flagsOf := map[imap.UID][]imap.Flag{}
	for _, b := range bufs {
		flagsOf[b.UID] = b.Flags
	}
	for w, n := range acked {
		uid := imap.UID(w + 1)
		got := flagsOf[uid]
		ok := false
		for _, f := range got {
			if f == imap.Flag(fmt.Sprintf("$v%d", n)) || f == imap.Flag(fmt.Sprintf("$v%d", n+1)) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("UID %d: STORE FLAGS ($v%d) was acknowledged before the kill, but after the restart it has %v", uid, n, got)
		}
	}
	for _, uid := range expunged {
		if _, ok := flagsOf[uid]; ok {
			t.Errorf("UID %d: EXPUNGE was acknowledged before the kill, but the message is back after the restart", uid)
		}
	}
	t.Logf("killed after %v STOREs per session and %d EXPUNGEs acknowledged", acked, len(expunged))
}
