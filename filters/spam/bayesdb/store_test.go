package bayesdb

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestBayesStore(t *testing.T) {
	ctx := context.Background()
	b := openTestStore(t)

	counts, nSpam, nHam, err := b.Counts(ctx, []string{"viagra", "hello"})
	if err != nil || len(counts) != 0 || nSpam != 0 || nHam != 0 {
		t.Fatalf("empty store: %v %d %d %v", counts, nSpam, nHam, err)
	}
	long := strings.Repeat("x", 100)
	if err := b.Learn(ctx, []string{"viagra", "cheap", "viagra", long}, true, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Learn(ctx, []string{"viagra", "cheap"}, true, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Learn(ctx, []string{"hello", "cheap"}, false, 1); err != nil {
		t.Fatal(err)
	}
	counts, nSpam, nHam, err = b.Counts(ctx, []string{"viagra", "cheap", "hello", "unknown", long, long + "y"})
	if err != nil {
		t.Fatal(err)
	}
	if nSpam != 2 || nHam != 1 {
		t.Fatalf("totals = %d spam, %d ham; want 2, 1", nSpam, nHam)
	}
	want := map[string]Count{
		"viagra": {Spam: 2},
		"cheap":  {Spam: 2, Ham: 1},
		"hello":  {Ham: 1},
		long:     {Spam: 1},
	}
	if len(counts) != len(want) {
		t.Fatalf("counts = %v, want %v", counts, want)
	}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("counts[%.10q] = %+v, want %+v", k, counts[k], v)
		}
	}

	// Unlearning never goes below zero and drops empty tokens.
	for range 3 {
		if err := b.Learn(ctx, []string{"viagra", "cheap", long}, true, -1); err != nil {
			t.Fatal(err)
		}
	}
	counts, nSpam, nHam, err = b.Counts(ctx, []string{"viagra", "cheap", long})
	if err != nil {
		t.Fatal(err)
	}
	if nSpam != 0 || nHam != 1 {
		t.Fatalf("totals after unlearning = %d, %d; want 0, 1", nSpam, nHam)
	}
	if len(counts) != 1 || counts["cheap"] != (Count{Ham: 1}) {
		t.Fatalf("counts after unlearning = %v", counts)
	}
	var rows int64
	if err := b.db.ReadDB(ctx).Model(&bayesToken{}).Count(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if rows != 2 { // cheap, hello
		t.Fatalf("%d token rows left, want 2", rows)
	}
	if sp, hm, err := b.Totals(ctx); err != nil || sp != 0 || hm != 1 {
		t.Fatalf("Totals = %d, %d, %v", sp, hm, err)
	}
	// Unlearning an unknown class on an empty total stays at zero.
	if err := b.Learn(ctx, []string{"nothing"}, true, -1); err != nil {
		t.Fatal(err)
	}
	if sp, _, _ := b.Totals(ctx); sp != 0 {
		t.Fatalf("spam total = %d after unlearning below zero", sp)
	}
}

func TestBayesStoreConcurrentAndLarge(t *testing.T) {
	ctx := context.Background()
	b := openTestStore(t)
	many := make([]string, 2500)
	for i := range many {
		many[i] = "tok" + strings.Repeat("a", i%7) + string(rune('a'+i%26)) + strconv.Itoa(i)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if err := b.Learn(ctx, many, i%2 == 0, 1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	counts, nSpam, nHam, err := b.Counts(ctx, many)
	if err != nil {
		t.Fatal(err)
	}
	if nSpam != 4 || nHam != 4 || len(counts) != len(many) {
		t.Fatalf("got %d spam, %d ham, %d tokens", nSpam, nHam, len(counts))
	}
	for _, tok := range many {
		if c := counts[tok]; c.Spam != 4 || c.Ham != 4 {
			t.Fatalf("counts[%q] = %+v", tok, c)
		}
	}
}

// TestBayesCacheFollowsLearn checks that cached counts never hide a Learn:
// every scope of a Store shares the cache, and Learn invalidates it.
func TestBayesCacheFollowsLearn(t *testing.T) {
	ctx := context.Background()
	reader := openTestStore(t)
	trainer := reader.Scope("")
	counts := func() (map[string]Count, int64, int64) {
		t.Helper()
		c, spam, ham, err := reader.Counts(ctx, []string{"viagra", "meeting"})
		if err != nil {
			t.Fatal(err)
		}
		return c, spam, ham
	}
	if c, spam, ham := counts(); len(c) != 0 || spam != 0 || ham != 0 {
		t.Fatalf("empty store: %v %d %d", c, spam, ham)
	}
	counts() // now cached, unknown tokens included
	if err := trainer.Learn(ctx, []string{"viagra"}, true, 1); err != nil {
		t.Fatal(err)
	}
	if c, spam, _ := counts(); c["viagra"] != (Count{Spam: 1}) || spam != 1 || len(c) != 1 {
		t.Fatalf("after learning spam: %v, %d spam", c, spam)
	}
	if err := trainer.Learn(ctx, []string{"viagra"}, true, -1); err != nil {
		t.Fatal(err)
	}
	if c, spam, _ := counts(); len(c) != 0 || spam != 0 {
		t.Fatalf("after unlearning: %v, %d spam", c, spam)
	}
}

// TestBayesCacheKeepsScopeTotals checks that the totals of every scope
// (not only the server's) are kept after the first read, so that a
// message for a user reads nothing from the database once its tokens are
// known, and that training in one scope is seen there and nowhere else.
func TestBayesCacheKeepsScopeTotals(t *testing.T) {
	ctx := context.Background()
	server := openTestStore(t)
	user, domain := server.Scope("user:5"), server.Scope("domain:a.example")
	counts := func(s *Store) (map[string]Count, int64, int64) {
		t.Helper()
		c, spam, ham, err := s.Counts(ctx, []string{"invoice", "meeting"})
		if err != nil {
			t.Fatal(err)
		}
		return c, spam, ham
	}
	for _, s := range []*Store{server, user, domain} {
		if c, spam, ham := counts(s); len(c) != 0 || spam != 0 || ham != 0 {
			t.Fatalf("scope %q, empty store: %v %d %d", s.scope, c, spam, ham)
		}
		server.cache.mu.Lock()
		_, kept := server.cache.totals[s.scope]
		server.cache.mu.Unlock()
		if !kept {
			t.Fatalf("the totals of scope %q were not kept after the first read", s.scope)
		}
	}
	if _, err := user.TrainMessage(ctx, "digest-1", []string{"invoice"}, false); err != nil {
		t.Fatal(err)
	}
	if c, spam, ham := counts(user); c["invoice"] != (Count{Ham: 1}) || spam != 0 || ham != 1 {
		t.Fatalf("user scope after training ham: %v, %d spam, %d ham", c, spam, ham)
	}
	for _, s := range []*Store{server, domain} {
		if c, spam, ham := counts(s); len(c) != 0 || spam != 0 || ham != 0 {
			t.Fatalf("scope %q sees the user's training: %v %d %d", s.scope, c, spam, ham)
		}
	}
	if err := domain.Learn(ctx, []string{"meeting"}, true, 1); err != nil {
		t.Fatal(err)
	}
	if c, spam, ham := counts(domain); c["meeting"] != (Count{Spam: 1}) || spam != 1 || ham != 0 {
		t.Fatalf("domain scope after learning spam: %v, %d spam, %d ham", c, spam, ham)
	}
	if _, spam, ham := counts(user); spam != 0 || ham != 1 {
		t.Fatalf("user scope after the domain's training: %d spam, %d ham", spam, ham)
	}
}
