package queue

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/audit"
)

const queueTestBody = "From: ann@example.com\nTo: bob@example.net\nSubject: hi\n\nHello\n"

func enqueueTest(t *testing.T, s *testQueue, from string, rcpts ...string) *Message {
	t.Helper()
	m, err := s.Enqueue(context.Background(), Input{Body: strings.NewReader(queueTestBody), From: from, Recipients: rcpts})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func claimIDs(cs []Claim) []int64 {
	var ids []int64
	for _, c := range cs {
		for _, r := range c.Recipients {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

func queueCount(t *testing.T, s *testQueue) int64 {
	t.Helper()
	n, err := s.Count(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestQueueDeliver(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	m, err := s.Enqueue(ctx, Input{
		Body:       strings.NewReader(queueTestBody),
		From:       "Ann@Example.COM",
		Recipients: []string{"Bob@Example.net", "carol@example.net", "dave@example.org", "Bob@example.net"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "Ann@example.com" || m.Domain != "example.com" || m.ID == 0 || m.Size != int64(len(strings.ReplaceAll(queueTestBody, "\n", "\r\n"))) {
		t.Fatalf("queued %+v", m)
	}
	if d := m.ExpiresAt.Sub(m.CreatedAt); d != DefaultLifetime {
		t.Fatalf("lifetime %v", d)
	}
	item, err := s.Get(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(item.Recipients) != 3 || item.Recipients[0].Address != "Bob@example.net" || item.Recipients[0].Domain != "example.net" || item.Recipients[0].Status != StatusQueued {
		t.Fatalf("recipients %+v", item.Recipients)
	}

	now := time.Now()
	claims, err := s.ClaimDue(ctx, "w1", now, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(claims) != 2 {
		t.Fatalf("%d claims, want one per domain", len(claims))
	}
	byDomain := map[string]Claim{}
	for _, c := range claims {
		if c.Message.ID != m.ID || c.Message.BlobKey != m.BlobKey {
			t.Fatalf("claim of %+v", c.Message)
		}
		for _, r := range c.Recipients {
			if r.Status != StatusDelivering || r.ClaimedBy != "w1" || r.ClaimedUntil == nil || r.Domain != c.Recipients[0].Domain {
				t.Fatalf("claimed %+v", r)
			}
		}
		byDomain[c.Recipients[0].Domain] = c
	}
	if len(byDomain["example.net"].Recipients) != 2 || len(byDomain["example.org"].Recipients) != 1 {
		t.Fatalf("claims %+v", byDomain)
	}
	// Nothing more is due: everything is leased.
	if again, err := s.ClaimDue(ctx, "w2", now, 10, time.Minute); err != nil || len(again) != 0 {
		t.Fatalf("second claim: %v %v", again, err)
	}

	body, err := s.OpenBody(ctx, &claims[0].Message)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(body)
	body.Close()
	if string(data) != strings.ReplaceAll(queueTestBody, "\n", "\r\n") {
		t.Fatalf("body %q", data)
	}

	var results []AttemptResult
	for _, id := range claimIDs(claims) {
		results = append(results, AttemptResult{RecipientID: id, Delivered: true, Code: 250})
	}
	// Recording in two steps: the message stays until the last.
	if err := s.RecordAttempts(ctx, m.ID, results[:1]); err != nil {
		t.Fatal(err)
	}
	item, err = s.Get(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	delivered := slices.IndexFunc(item.Recipients, func(r Recipient) bool { return r.Status == StatusDelivered })
	if delivered < 0 || item.Recipients[delivered].Attempts != 1 || item.Recipients[delivered].LastAttemptAt == nil || item.Recipients[delivered].ClaimedBy != "" {
		t.Fatalf("after one result: %+v", item.Recipients)
	}
	if !blobExists(t, s, m.BlobKey) {
		t.Fatal("body freed early")
	}
	if err := s.RecordAttempts(ctx, m.ID, results[1:]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, m.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("delivered message still queued: %v", err)
	}
	if blobExists(t, s, m.BlobKey) {
		t.Fatal("body of a delivered message not freed")
	}
	if n := queueCount(t, s); n != 0 {
		t.Fatalf("%d queued", n)
	}
	// A late (duplicate) report is ignored.
	if err := s.RecordAttempts(ctx, m.ID, results); err != nil {
		t.Fatal(err)
	}
}

func TestQueueEnqueueInvalid(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for name, in := range map[string]Input{
		"no body":       {From: "a@example.com", Recipients: []string{"b@example.net"}},
		"no recipients": {Body: strings.NewReader("x"), From: "a@example.com"},
		"bad recipient": {Body: strings.NewReader("x"), Recipients: []string{"nobody"}},
		"bad sender":    {Body: strings.NewReader("x"), From: "a@", Recipients: []string{"b@example.net"}},
		"negative life": {Body: strings.NewReader("x"), Recipients: []string{"b@example.net"}, Lifetime: -time.Second},
	} {
		if _, err := s.Enqueue(ctx, in); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The null sender, with the signing domain given.
	m, err := s.Enqueue(ctx, Input{Body: strings.NewReader("x"), Recipients: []string{"b@example.net"}, Domain: "Mail.Example.COM", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "" || m.Domain != "mail.example.com" || m.ExpiresAt.Sub(m.CreatedAt) != time.Hour {
		t.Fatalf("bounce queued as %+v", m)
	}
}

func TestQueueConcurrentClaims(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s1 := openQueueAt(t, dir)
	defer s1.Close()
	// A second process on the same data folder.
	s2 := openQueueAt(t, dir)
	defer s2.Close()
	const messages = 40
	total := 0
	for i := range messages {
		rcpts := []string{"a@one.example", "b@one.example", "c@two.example"}[:1+i%3]
		enqueueTest(t, s1, "ann@example.com", rcpts...)
		total += len(rcpts)
	}
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			s := []*testQueue{s1, s2}[w%2]
			worker := string(rune('A' + w))
			for {
				claims, err := s.ClaimDue(ctx, worker, time.Now(), 3, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(claims) == 0 {
					return
				}
				mu.Lock()
				for _, id := range claimIDs(claims) {
					if other, ok := seen[id]; ok {
						t.Errorf("recipient %d claimed by %s and %s", id, other, worker)
					}
					seen[id] = worker
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != total {
		t.Fatalf("claimed %d recipients of %d", len(seen), total)
	}
}

func TestQueueLeaseExpiry(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	m := enqueueTest(t, s, "ann@example.com", "bob@example.net")
	now := time.Now()
	claims, err := s.ClaimDue(ctx, "crashed", now, 10, time.Minute)
	if err != nil || len(claims) != 1 {
		t.Fatalf("claim: %v %v", claims, err)
	}
	if c, _ := s.ClaimDue(ctx, "w2", now.Add(59*time.Second), 10, time.Minute); len(c) != 0 {
		t.Fatal("claimed under a live lease")
	}
	c, err := s.ClaimDue(ctx, "w2", now.Add(61*time.Second), 10, time.Minute)
	if err != nil || len(c) != 1 || c[0].Recipients[0].ClaimedBy != "w2" || c[0].Recipients[0].Attempts != 0 {
		t.Fatalf("reclaim after the lease: %+v %v", c, err)
	}
	// A temporary failure: retried at NextAttemptAt, not before.
	next := now.Add(10 * time.Minute)
	rid := c[0].Recipients[0].ID
	if err := s.RecordAttempts(ctx, m.ID, []AttemptResult{{RecipientID: rid, Code: 451, Error: "try\r\nlater", NextAttemptAt: next}}); err != nil {
		t.Fatal(err)
	}
	item, _ := s.Get(ctx, m.ID)
	r := item.Recipients[0]
	if r.Status != StatusQueued || r.Attempts != 1 || r.LastCode != 451 || r.LastError != "try  later" || !r.NextAttemptAt.Equal(dbTime(next)) || r.ClaimedUntil != nil {
		t.Fatalf("after a temporary failure: %+v", r)
	}
	if c, _ := s.ClaimDue(ctx, "w3", next.Add(-time.Second), 10, time.Minute); len(c) != 0 {
		t.Fatal("claimed before its next attempt")
	}
	if c, _ := s.ClaimDue(ctx, "w3", next, 10, time.Minute); len(c) != 1 {
		t.Fatal("not claimed at its next attempt")
	}
}

func TestQueueHoldRetryDelete(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	actx := audit.With(ctx, audit.Info{Actor: "root", Source: "cli"})
	m := enqueueTest(t, s, "ann@example.com", "bob@example.net")
	other := enqueueTest(t, s, "ann@example.com", "carol@example.org")
	if err := s.Hold(actx, m.ID, true); err != nil {
		t.Fatal(err)
	}
	claims, err := s.ClaimDue(ctx, "w", time.Now(), 10, time.Minute)
	if err != nil || len(claims) != 1 || claims[0].Message.ID != other.ID {
		t.Fatalf("claimed with one held: %+v %v", claims, err)
	}
	if n, _ := s.Count(ctx, Filter{Status: StatusHeld}); n != 1 {
		t.Fatalf("%d held", n)
	}
	if l, _ := s.List(ctx, Filter{Domain: "EXAMPLE.org"}); len(l) != 1 || l[0].Message.ID != other.ID || len(l[0].Recipients) != 1 {
		t.Fatalf("by domain: %+v", l)
	}
	if l, _ := s.List(ctx, Filter{Status: StatusDelivering}); len(l) != 1 || l[0].Message.ID != other.ID {
		t.Fatalf("delivering: %+v", l)
	}
	if l, _ := s.List(ctx, Filter{Limit: 1, Offset: 1}); len(l) != 1 || l[0].Message.ID != m.ID {
		t.Fatalf("page 2: %+v", l)
	}
	if _, err := s.List(ctx, Filter{Status: "bogus"}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("bad status: %v", err)
	}
	if err := s.Hold(actx, m.ID, false); err != nil {
		t.Fatal(err)
	}
	// Postponed by a failure, then retried now by an administrator.
	later := time.Now().Add(time.Hour)
	c, _ := s.ClaimDue(ctx, "w", time.Now(), 10, time.Minute)
	if len(c) != 1 || c[0].Message.ID != m.ID {
		t.Fatalf("released message not claimed: %+v", c)
	}
	if err := s.RecordAttempts(ctx, m.ID, []AttemptResult{{RecipientID: c[0].Recipients[0].ID, Code: 421, NextAttemptAt: later}}); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.ClaimDue(ctx, "w", time.Now().Add(time.Second), 10, time.Minute); len(c) != 0 {
		t.Fatal("claimed before its next attempt")
	}
	if err := s.RetryNow(actx, m.ID); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.ClaimDue(ctx, "w", time.Now().Add(time.Second), 10, time.Minute); len(c) != 1 {
		t.Fatal("not claimed after RetryNow")
	}
	if err := s.Delete(actx, m.ID); err != nil {
		t.Fatal(err)
	}
	if blobExists(t, s, m.BlobKey) {
		t.Fatal("deleted message's body kept")
	}
	if !blobExists(t, s, other.BlobKey) {
		t.Fatal("other body freed")
	}
	for _, err := range []error{s.Delete(ctx, m.ID), s.RetryNow(ctx, m.ID), s.Hold(ctx, m.ID, true)} {
		if !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("on a deleted message: %v", err)
		}
	}
	entries, err := audit.NewLog(s.store).List(ctx, audit.Filter{Action: "queue."})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	if want := []string{"queue.delete", "queue.retry", "queue.release", "queue.hold"}; !slices.Equal(actions, want) {
		t.Fatalf("audit %v, want %v", actions, want)
	}
}

func TestQueuePermanentFailure(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	m := enqueueTest(t, s, "ann@example.com", "bob@example.net", "nobody@example.net")
	c, err := s.ClaimDue(ctx, "w", time.Now(), 10, time.Minute)
	if err != nil || len(c) != 1 || len(c[0].Recipients) != 2 {
		t.Fatalf("claim %+v %v", c, err)
	}
	bob, nobody := c[0].Recipients[0], c[0].Recipients[1]
	err = s.RecordAttempts(ctx, m.ID, []AttemptResult{
		{RecipientID: bob.ID, Code: 450, Error: "greylisted", NextAttemptAt: time.Now()},
		{RecipientID: nobody.ID, Permanent: true, Code: 550, Error: "no such user"},
	})
	if err != nil {
		t.Fatal(err)
	}
	item, err := s.Get(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if item.Recipients[0].Status != StatusQueued || item.Recipients[1].Status != StatusFailed || item.Recipients[1].LastCode != 550 {
		t.Fatalf("recipients %+v", item.Recipients)
	}
	if n, _ := s.Count(ctx, Filter{Status: StatusFailed}); n != 1 {
		t.Fatalf("%d with a failed recipient", n)
	}
	c, _ = s.ClaimDue(ctx, "w", time.Now().Add(time.Second), 10, time.Minute)
	if len(c) != 1 || len(c[0].Recipients) != 1 || c[0].Recipients[0].ID != bob.ID {
		t.Fatalf("retry claims %+v", c)
	}
	if err := s.RecordAttempts(ctx, m.ID, []AttemptResult{{RecipientID: bob.ID, Delivered: true, Code: 250}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, m.ID); !errors.Is(err, core.ErrNotFound) || blobExists(t, s, m.BlobKey) {
		t.Fatalf("finished message kept: %v", err)
	}
}

func TestQueueExpiryAndWarnings(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	m, err := s.Enqueue(ctx, Input{Body: strings.NewReader(queueTestBody), From: "ann@example.com", Recipients: []string{"bob@example.net", "carol@example.org"}, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	bounce, err := s.Enqueue(ctx, Input{Body: strings.NewReader(queueTestBody), Recipients: []string{"x@example.net"}, Domain: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// carol is delivered; bob keeps failing.
	c, _ := s.ClaimDue(ctx, "w", now, 10, time.Minute)
	for _, cl := range c {
		if cl.Message.ID != m.ID {
			continue
		}
		r := cl.Recipients[0]
		if err := s.RecordAttempts(ctx, m.ID, []AttemptResult{{RecipientID: r.ID, Delivered: r.Domain == "example.org", Code: 421, NextAttemptAt: now.Add(30 * time.Minute)}}); err != nil {
			t.Fatal(err)
		}
	}

	if w, err := s.DueWarnings(ctx, now.Add(10*time.Minute), 15*time.Minute); err != nil || len(w) != 0 {
		t.Fatalf("early warnings: %v %v", w, err)
	}
	w, err := s.DueWarnings(ctx, now.Add(20*time.Minute), 15*time.Minute)
	if err != nil || len(w) != 1 || w[0].Message.ID != m.ID || len(w[0].Recipients) != 2 {
		t.Fatalf("warnings (the bounce has nobody to warn): %+v %v", w, err)
	}
	if err := s.MarkWarned(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if w, _ := s.DueWarnings(ctx, now.Add(20*time.Minute), 15*time.Minute); len(w) != 0 {
		t.Fatal("warned twice")
	}
	if it, _ := s.Get(ctx, m.ID); it.Message.WarnedAt == nil {
		t.Fatal("WarnedAt not set")
	}

	if exp, err := s.ExpireDue(ctx, now.Add(59*time.Minute)); err != nil || len(exp) != 0 {
		t.Fatalf("expired early: %v %v", exp, err)
	}
	exp, err := s.ExpireDue(ctx, now.Add(61*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(exp) != 1 || exp[0].Message.ID != m.ID || exp[0].Recipient.Address != "bob@example.net" || exp[0].Recipient.Status != StatusExpired || exp[0].Recipient.LastCode != 421 {
		t.Fatalf("expired %+v", exp)
	}
	if c, _ := s.ClaimDue(ctx, "w", now.Add(61*time.Minute), 10, time.Minute); len(c) != 1 || c[0].Message.ID != bounce.ID {
		t.Fatalf("expired recipient claimed: %+v", c)
	}
	// The body stays readable for the bounce until acknowledged; until
	// then ExpireDue returns it again (as after a crash).
	rc, err := s.OpenBody(ctx, &exp[0].Message)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	again, err := s.ExpireDue(ctx, now.Add(62*time.Minute))
	if err != nil || len(again) != 1 || again[0].Recipient.ID != exp[0].Recipient.ID {
		t.Fatalf("unacknowledged expiry not returned again: %+v %v", again, err)
	}
	if err := s.AckExpired(ctx, []int64{exp[0].Recipient.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, m.ID); !errors.Is(err, core.ErrNotFound) || blobExists(t, s, m.BlobKey) {
		t.Fatalf("expired message kept: %v", err)
	}
	if again, _ := s.ExpireDue(ctx, now.Add(62*time.Minute)); len(again) != 0 {
		t.Fatalf("acknowledged expiry returned: %+v", again)
	}
}

func TestQueueSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openQueueAt(t, dir)
	m1 := enqueueTest(t, s, "ann@example.com", "bob@example.net", "carol@example.org")
	m2 := enqueueTest(t, s, "", "dave@example.net")
	now := time.Now()
	// A worker claims everything and "dies" without reporting.
	if c, err := s.ClaimDue(ctx, "dead", now, 10, time.Minute); err != nil || len(c) != 3 {
		t.Fatalf("claims %+v %v", c, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openQueueAt(t, dir)
	defer s.Close()
	items, err := s.List(ctx, Filter{})
	if err != nil || len(items) != 2 || items[0].Message.ID != m2.ID || items[1].Message.ID != m1.ID || len(items[1].Recipients) != 2 {
		t.Fatalf("queue after restart: %+v %v", items, err)
	}
	if !blobExists(t, s, m1.BlobKey) || !blobExists(t, s, m2.BlobKey) {
		t.Fatal("bodies lost")
	}
	if c, _ := s.ClaimDue(ctx, "w", now, 10, time.Minute); len(c) != 0 {
		t.Fatal("claimed under the dead worker's live lease")
	}
	c, err := s.ClaimDue(ctx, "w", now.Add(2*time.Minute), 10, time.Minute)
	if err != nil || len(claimIDs(c)) != 3 {
		t.Fatalf("reclaim after restart: %+v %v", c, err)
	}
}
