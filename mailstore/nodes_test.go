package mailstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/testdb"
)

// openTwoNodes opens two stores as two nodes do: each its own data folder,
// one database (the test run's PostgreSQL, or a SQLite file outside both
// folders) and one body folder. Nothing but the database keeps them from
// stepping on each other. mods change the options of both.
func openTwoNodes(t *testing.T, mods ...func(*Options)) (a, b *Store) {
	t.Helper()
	shared := t.TempDir()
	database := testdb.DSN(t)
	if database == "" {
		database = filepath.Join(shared, "yubin.db")
	}
	open := func() *Store {
		opts := Options{Dir: t.TempDir(), Database: database, BlobDir: filepath.Join(shared, "blobs"), InlineMax: -1}
		for _, mod := range mods {
			mod(&opts)
		}
		s, err := Open(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return open(), open()
}

// TestTwoNodesDeliver delivers to one mailbox from two stores at once, over
// its message quota: the UIDs are all distinct and without gaps, exactly
// the quota's worth of messages goes in, and the usage counts them.
func TestTwoNodesDeliver(t *testing.T) {
	ctx := context.Background()
	a, b := openTwoNodes(t)
	if _, err := a.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	none := Percents{} // no quota warnings: they would take room too
	if _, err := a.UpdateDomain(ctx, "example.com", DomainUpdate{QuotaWarningPercents: &none}); err != nil {
		t.Fatal(err)
	}
	const quota, perNode = 15, 12
	u, err := a.CreateUser(ctx, NewUser{Address: "ann@example.com", Password: "correct horse", QuotaMessages: quota})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var uids []uint32
	over := 0
	var wg sync.WaitGroup
	for i := range 2 * perNode {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, EnforceQuota: true,
				Body: strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i))})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("delivery %d: %v", i, err)
			case res[0].Err == nil:
				uids = append(uids, res[0].UID)
			case errors.Is(res[0].Err, core.ErrOverQuota):
				over++
			default:
				t.Errorf("delivery %d: %v", i, res[0].Err)
			}
		})
	}
	wg.Wait()
	if len(uids) != quota || over != 2*perNode-quota {
		t.Errorf("%d delivered and %d over quota, want %d and %d", len(uids), over, quota, 2*perNode-quota)
	}
	seen := map[uint32]bool{}
	for _, uid := range uids {
		if seen[uid] || uid < 1 || uid > uint32(len(uids)) {
			t.Errorf("UID %d given twice or out of 1..%d: %v", uid, len(uids), uids)
		}
		seen[uid] = true
	}
	for _, s := range []*Store{a, b} {
		got, err := s.GetUserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.UsedMessages != int64(len(uids)) {
			t.Errorf("usage %d messages, want %d", got.UsedMessages, len(uids))
		}
		inbox, err := s.GetMailbox(ctx, u.ID, Inbox)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := s.ListMessages(ctx, inbox.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != len(uids) {
			t.Errorf("%d messages listed, want %d", len(msgs), len(uids))
		}
		for _, m := range msgs {
			if body := readBody(t, s, &m); !strings.HasPrefix(body, "Subject: ") {
				t.Errorf("UID %d: body %q", m.UID, body)
			}
		}
	}
}

// TestTwoNodesUniqueAddress creates one address from two stores at once,
// as an account on one and an alias on the other, many times over: one of
// each pair wins, the other is told it exists.
func TestTwoNodesUniqueAddress(t *testing.T) {
	ctx := context.Background()
	a, b := openTwoNodes(t)
	if _, err := a.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateUser(ctx, NewUser{Address: "target@example.com", Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		addr := fmt.Sprintf("both%d@example.com", i)
		var userErr, aliasErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			_, userErr = a.CreateUser(ctx, NewUser{Address: addr, Password: "correct horse"})
		})
		wg.Go(func() {
			_, aliasErr = b.CreateAlias(ctx, addr, []string{"target@example.com"})
		})
		wg.Wait()
		if (userErr == nil) == (aliasErr == nil) {
			t.Fatalf("%s: account %v, alias %v: want exactly one", addr, userErr, aliasErr)
		}
		if err := errors.Join(userErr, aliasErr); !errors.Is(err, core.ErrExists) {
			t.Errorf("%s: the loser's error %v does not wrap ErrExists", addr, err)
		}
	}
}

// TestTwoNodesQuotaRowLock holds node A's delivery open, past its quota
// check, until node B's delivery to the same user waits on the database's
// row lock: B must then see A's usage and be refused, not pass a check made
// on the usage from before A's commit.
func TestTwoNodesQuotaRowLock(t *testing.T) {
	testdb.Postgres(t) // row locks: SQLite has one writer at a time anyway
	ctx := context.Background()
	a, b := openTwoNodes(t)
	if _, err := a.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	none := Percents{}
	if _, err := a.UpdateDomain(ctx, "example.com", DomainUpdate{QuotaWarningPercents: &none}); err != nil {
		t.Fatal(err)
	}
	u, err := a.CreateUser(ctx, NewUser{Address: "ann@example.com", Password: "correct horse", QuotaMessages: 1})
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := a.GetMailbox(ctx, u.ID, Inbox)
	if err != nil {
		t.Fatal(err)
	}
	inside, release := make(chan struct{}), make(chan struct{})
	aDone := make(chan error, 1)
	go func() {
		aDone <- a.write(ctx, func(tx *writeTx) error {
			rows := []messageRow{{BlobKey: "held", Size: 10, InternalDate: time.Now()}}
			if _, err := insertMessages(tx, u.ID, inbox, rows, true, 0); err != nil {
				return err
			}
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	type result struct {
		res []DeliveryResult
		err error
	}
	bDone := make(chan result, 1)
	go func() {
		res, err := b.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, EnforceQuota: true, Body: strings.NewReader("Subject: b\r\n\r\nb\r\n")})
		bDone <- result{res, err}
	}()
	// Wait until B's transaction waits for a lock that A holds.
	for {
		var waiting int
		err := a.db.Raw(`SELECT count(*) FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid
			WHERE NOT l.granted AND s.datname = current_database()`).Row().Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		runtime.Gosched()
	}
	close(release)
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	r := <-bDone
	if r.err != nil || !errors.Is(r.res[0].Err, core.ErrOverQuota) {
		t.Errorf("node B's delivery past the quota: %v, %+v; want ErrOverQuota", r.err, r.res)
	}
	got, err := b.GetUserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.UsedMessages != 1 {
		t.Errorf("usage %d messages, want 1", got.UsedMessages)
	}
}

// TestTwoNodesStoreFlags: two stores add different flags to the same
// messages at once, round after round: no change is lost (each STORE reads
// the flags and writes them back; the mailbox's row lock keeps the other
// node out in between).
func TestTwoNodesStoreFlags(t *testing.T) {
	ctx := context.Background()
	a, b := openTwoNodes(t)
	u := newTestUser(t, a, "ann@example.com")
	res, err := a.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader("Subject: x\r\n\r\nx\r\n")})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	mb, uid := res[0].MailboxID, res[0].UID
	for round := range 20 {
		fa, fb := fmt.Sprintf("$a%d", round), fmt.Sprintf("$b%d", round)
		var wg sync.WaitGroup
		for _, x := range []struct {
			s    *Store
			flag string
		}{{a, fa}, {b, fb}} {
			wg.Go(func() {
				if _, err := x.s.StoreFlags(ctx, mb, UIDs(uid), FlagsAdd, []string{x.flag}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		msgs, err := b.ListMessages(ctx, mb, UIDs(uid))
		if err != nil || len(msgs) != 1 {
			t.Fatal(err, msgs)
		}
		flags := strings.Join(msgs[0].Flags, " ")
		if !strings.Contains(flags, fa) || !strings.Contains(flags, fb) {
			t.Fatalf("round %d: flags %q lack %s or %s", round, flags, fa, fb)
		}
	}
}
