package spam

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/filters"
	"github.com/yubinmail/yubin/filters/spam/bayesdb"
)

// scopedClassifier returns a classifier on a fresh store, with scopes.
func scopedClassifier(t *testing.T) (*Classifier, *bayesdb.Store) {
	t.Helper()
	bs := dbTokens(t)
	return NewClassifier(bs).WithScopes(func(scope string) TokenStore { return bs.Scope(scope) }), bs
}

// TestTrainingStaysInScope is the poisoning attack of issue 11: a user of
// one domain trains ordinary mail as spam. Their own mail is judged by
// their training; mail for another domain's user, or for several users,
// is not; a domain's training reaches that domain only.
func TestTrainingStaysInScope(t *testing.T) {
	ctx := context.Background()
	c, _ := scopedClassifier(t)
	r := rand.New(rand.NewPCG(3, 4))
	attacker := filters.LocalUser{ID: 7, Address: "mallory@a.example"}
	colleague := filters.LocalUser{ID: 8, Address: "ann@a.example"}
	victim := filters.LocalUser{ID: 9, Address: "bob@b.example"}
	// The attacker trains ham as spam and spam as ham, in their scope.
	for i := range 60 {
		spam := i%2 == 0
		if err := c.TrainIn(ctx, UserScope(attacker.ID), strings.NewReader(corpusMessage(r, !spam)), spam); err != nil {
			t.Fatal(err)
		}
	}
	judge := func(users ...filters.LocalUser) float64 {
		msg := newTestMessage(corpusMessage(r, false)) // ham
		msg.Users = users
		p, _, err := c.Classify(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := judge(attacker); p < 0.9 {
		t.Errorf("the attacker's own mail: %.3f, want their (inverted) training to apply", p)
	}
	for name, users := range map[string][]filters.LocalUser{
		"other domain": {victim}, "colleague": {colleague}, "attacker and victim": {attacker, victim}, "attacker and colleague": {attacker, colleague},
	} {
		if p := judge(users...); p != 0.5 {
			t.Errorf("%s: %.3f, want 0.5 (untrained: the attacker's training must not count)", name, p)
		}
	}
	// A domain admin's training of a.example reaches its users, not b.
	for i := range 60 {
		spam := i%2 == 0
		if err := c.TrainIn(ctx, DomainScope("A.example"), strings.NewReader(corpusMessage(r, spam)), spam); err != nil {
			t.Fatal(err)
		}
	}
	if p := judge(colleague); p > 0.1 {
		t.Errorf("colleague after the domain's training: %.3f, want ham", p)
	}
	if p := judge(victim); p != 0.5 {
		t.Errorf("other domain after a.example's training: %.3f, want 0.5", p)
	}
	// The server's training reaches everyone.
	trainCorpus(t, c, r, 30)
	if p := judge(victim); p > 0.1 {
		t.Errorf("other domain after the server's training: %.3f, want ham", p)
	}
}

// TestRetrainMovesMessage checks that training a message as the other
// class takes back its first training (moving out of Junk untrains spam
// and trains ham), and training it twice as the same counts once.
func TestRetrainMovesMessage(t *testing.T) {
	ctx := context.Background()
	c, bs := scopedClassifier(t)
	raw := "From: a@example.org\r\nSubject: quarterly figures\r\n\r\nthe quarterly figures attached\r\n"
	scope := UserScope(5)
	tokens := []string{"quarterly", "figures"}
	want := func(spam, ham, tokSpam, tokHam int64) {
		t.Helper()
		st := bs.Scope(scope)
		s, h, err := st.Totals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		counts, _, _, err := st.Counts(ctx, tokens)
		if err != nil {
			t.Fatal(err)
		}
		got := counts["quarterly"]
		if s != spam || h != ham || got.Spam != tokSpam || got.Ham != tokHam {
			t.Errorf("totals %d spam %d ham, token %+v; want %d %d {%d %d}", s, h, got, spam, ham, tokSpam, tokHam)
		}
	}
	train := func(spam bool) {
		t.Helper()
		if err := c.TrainIn(ctx, scope, strings.NewReader(raw), spam); err != nil {
			t.Fatal(err)
		}
	}
	train(true) // moved into Junk
	want(1, 0, 1, 0)
	train(true) // moved into Junk again (e.g. from another folder)
	want(1, 0, 1, 0)
	train(false) // moved out of Junk
	want(0, 1, 0, 1)
	train(true) // and back
	want(1, 0, 1, 0)
	// The server's scope is untouched.
	if s, h, _ := bs.Totals(ctx); s != 0 || h != 0 {
		t.Errorf("server totals %d %d, want 0 0", s, h)
	}
}

// TestClassifierTotals: the numbers of messages trained in each scope, as
// the API's statistics show them; a classifier without scopes has the
// server's only.
func TestClassifierTotals(t *testing.T) {
	ctx := context.Background()
	c, bs := scopedClassifier(t)
	dom := DomainScope("example.com")
	if err := c.TrainIn(ctx, ServerScope, strings.NewReader("Subject: pills\r\n\r\ncheap pills now\r\n"), true); err != nil {
		t.Fatal(err)
	}
	for i, body := range []string{"lunch on tuesday", "the quarterly figures"} {
		if err := c.TrainIn(ctx, dom, strings.NewReader("Subject: "+body+"\r\n\r\n"+body+"\r\n"), false); err != nil {
			t.Fatal(i, err)
		}
	}
	for _, tc := range []struct {
		scope     string
		spam, ham int64
	}{{ServerScope, 1, 0}, {dom, 0, 2}, {DomainScope("other.example"), 0, 0}} {
		if s, h, err := c.Totals(ctx, tc.scope); err != nil || s != tc.spam || h != tc.ham {
			t.Errorf("Totals(%q) = %d, %d, %v; want %d, %d", tc.scope, s, h, err, tc.spam, tc.ham)
		}
	}
	if _, _, err := NewClassifier(bs).Totals(ctx, dom); err == nil {
		t.Error("a classifier without scopes gave a domain's totals")
	}
}
