package spam

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

var (
	spamWords = strings.Fields(`viagra casino lottery winner prize cheap pills discount offer guaranteed
		bitcoin investment urgent million claim cash bonus credit loan refinance pharmacy replica watches
		weight loss miracle unsubscribe exclusive limited deal income profit rolex enlargement jackpot
		inheritance beneficiary wire transfer congratulations selected`)
	hamWords = strings.Fields(`meeting project schedule review agenda lunch report quarterly deadline team
		code deploy release budget notes draft feedback conference minutes tomorrow attached slides calendar
		sprint retrospective invoice customer database migration branch merge request documentation
		holiday family weekend dinner birthday`)
	commonWords = strings.Fields(`the and you your this for with please about have will from that are
		can our all more just today time here some know what when good`)
	spamDomains = []string{"promo-deals.example", "win-big.example", "cheap-meds.example", "crypto-gains.example"}
	hamDomains  = []string{"example.com", "partner.example.org", "university.example.edu"}
)

// corpusMessage generates a short message of the given class.
func corpusMessage(r *rand.Rand, spam bool) string {
	words, domains := hamWords, hamDomains
	if spam {
		words, domains = spamWords, spamDomains
	}
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	subject := make([]string, 3)
	for i := range subject {
		subject[i] = pick(words)
	}
	body := make([]string, 40)
	for i := range body {
		if r.IntN(10) < 6 {
			body[i] = pick(words)
		} else {
			body[i] = pick(commonWords)
		}
	}
	return crlf(fmt.Sprintf("From: %s <%s@%s>\nTo: bob@example.com\nDate: Mon, 6 May 2024 10:00:00 +0000\n"+
		"Message-ID: <%d@%s>\nSubject: %s\nContent-Type: text/plain\n\n%s\n",
		pick(commonWords), pick(words), pick(domains), r.Int(), pick(domains), strings.Join(subject, " "), strings.Join(body, " ")))
}

func trainCorpus(t testing.TB, c *Classifier, r *rand.Rand, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range 2 * n {
		spam := i%2 == 0
		if err := c.Train(ctx, strings.NewReader(corpusMessage(r, spam)), spam); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClassifier(t *testing.T) {
	testClassifier(t, NewMemoryTokenStore())
}

func testClassifier(t *testing.T, store TokenStore) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	c := NewClassifier(store)

	// Untrained: neutral, without clues.
	p, clues, err := c.Classify(ctx, newTestMessage(corpusMessage(r, true)))
	if err != nil || p != 0.5 || clues != nil {
		t.Fatalf("untrained Classify = %v, %v, %v", p, clues, err)
	}
	// 19 of each is still too few.
	trainCorpus(t, c, r, 19)
	if p, _, _ := c.Classify(ctx, newTestMessage(corpusMessage(r, true))); p != 0.5 {
		t.Fatalf("classifier judges after 19 messages: %v", p)
	}
	trainCorpus(t, c, r, 11) // 30 spam, 30 ham

	for i := range 20 {
		spam := i%2 == 0
		raw := corpusMessage(r, spam)
		p, clues, err := c.Classify(ctx, newTestMessage(raw))
		if err != nil {
			t.Fatal(err)
		}
		if spam && p <= 0.9 || !spam && p >= 0.1 {
			t.Errorf("held-out message (spam %v) classified %.4f; clues %v\n%s", spam, p, clues[:min(len(clues), 10)], raw)
		}
		if len(clues) == 0 || len(clues) > maxClues {
			t.Errorf("%d clues", len(clues))
		}
		for j := 1; j < len(clues); j++ {
			if math.Abs(clues[j].Prob-0.5) > math.Abs(clues[j-1].Prob-0.5) {
				t.Fatalf("clues not ordered by strength: %v", clues)
			}
		}
	}
}

func TestClassifierUntrain(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryTokenStore()
	c := NewClassifier(store)
	msg := corpusMessage(rand.New(rand.NewPCG(3, 4)), true)
	if err := c.Train(ctx, strings.NewReader(msg), true); err != nil {
		t.Fatal(err)
	}
	if store.nSpam != 1 || len(store.counts) == 0 {
		t.Fatalf("after training: %d spam, %d tokens", store.nSpam, len(store.counts))
	}
	if err := c.Untrain(ctx, strings.NewReader(msg), true); err != nil {
		t.Fatal(err)
	}
	if store.nSpam != 0 || len(store.counts) != 0 {
		t.Fatalf("after untraining: %d spam, %d tokens", store.nSpam, len(store.counts))
	}
	// Unlearning more than was learnt stays at zero.
	if err := c.Untrain(ctx, strings.NewReader(msg), true); err != nil {
		t.Fatal(err)
	}
	if store.nSpam != 0 || len(store.counts) != 0 {
		t.Fatalf("after untraining twice: %d spam, %d tokens", store.nSpam, len(store.counts))
	}
}

func TestTokenProbAndCombining(t *testing.T) {
	// A token seen in every spam and no ham tends to 1, and is pulled to
	// 0.5 the rarer it is.
	if p := tokenProb(TokenCount{Spam: 100}, 100, 100); p < 0.99 || p >= 1 {
		t.Errorf("pure spam token p = %v", p)
	}
	if p := tokenProb(TokenCount{Spam: 1}, 100, 100); math.Abs(p-0.75) > 1e-9 {
		t.Errorf("single spam sighting p = %v, want 0.75", p)
	}
	if p := tokenProb(TokenCount{Spam: 10, Ham: 10}, 100, 100); math.Abs(p-0.5) > 1e-9 {
		t.Errorf("neutral token p = %v", p)
	}
	if p := tokenProb(TokenCount{Spam: 500}, 100, 100); p >= 1 {
		t.Errorf("overcounted token p = %v", p)
	}
	if got := chi2Q(0, 4); got != 1 {
		t.Errorf("chi2Q(0, 4) = %v", got)
	}
	// chi2Q(x, 2) = exp(-x/2).
	if got := chi2Q(3, 2); math.Abs(got-math.Exp(-1.5)) > 1e-12 {
		t.Errorf("chi2Q(3, 2) = %v", got)
	}
	if p := chi2Combine(nil); p != 0.5 {
		t.Errorf("no clues: %v", p)
	}
	spammy := []Clue{{Prob: 0.99}, {Prob: 0.98}, {Prob: 0.95}}
	hammy := []Clue{{Prob: 0.01}, {Prob: 0.02}, {Prob: 0.05}}
	if p := chi2Combine(spammy); p < 0.9 {
		t.Errorf("spammy clues: %v", p)
	}
	if p := chi2Combine(hammy); p > 0.1 {
		t.Errorf("hammy clues: %v", p)
	}
	if p := chi2Combine(append(spammy, hammy...)); math.Abs(p-0.5) > 0.01 {
		t.Errorf("balanced clues: %v", p)
	}
}

func TestTokenize(t *testing.T) {
	raw := crlf(alternative(cleanHeader+"Reply-To: sales@Other.Example\nX-Mailer: Mass  Mailer 3\n",
		"Plain TEXT, with Words: ok no ab abc "+strings.Repeat("x", 41)+" https://Link.Example/path",
		`<html><head><style>.secretstyle { color: red }</style></head><body><div class="klass">Html<b>Bold</b>word</div>`+
			`<script>hiddenscript()</script><a href="http://Tracker.Example/t">click here</a></body></html>`))
	msg := newTestMessage(raw)
	toks := tokenize(parseMessage(context.Background(), msg.Header, msg.Open))
	for _, want := range []string{"lunch", "friday", "plain", "text", "with", "words", "abc", "html", "bold", "word", "click", "here",
		"from-domain:example.net", "reply-to-domain:other.example", "from:has-name", "x-mailer:mass mailer 3",
		"content-type:text/html", "url:link.example", "url:tracker.example"} {
		if !slices.Contains(toks, want) {
			t.Errorf("token %q missing from %q", want, toks)
		}
	}
	for _, bad := range []string{"ok", "no", "ab", strings.Repeat("x", 41), "klass", "div", "href", "secretstyle", "hiddenscript", "Plain", "htmlboldword"} {
		if slices.Contains(toks, bad) {
			t.Errorf("unexpected token %q in %q", bad, toks)
		}
	}
	seen := map[string]bool{}
	for _, tok := range toks {
		if seen[tok] {
			t.Errorf("duplicate token %q", tok)
		}
		seen[tok] = true
		if len(tok) > 64 {
			t.Errorf("token of %d bytes", len(tok))
		}
	}
}

// tokenLookups is a TokenStore that counts the calls of Counts that look
// tokens up.
type tokenLookups struct {
	TokenStore
	lookups int
}

func (s *tokenLookups) Counts(ctx context.Context, tokens []string) (map[string]TokenCount, int64, int64, error) {
	if len(tokens) > 0 {
		s.lookups++
	}
	return s.TokenStore.Counts(ctx, tokens)
}

// TestClassifierUntrainedLooksNothingUp checks that a message is not
// tokenized and looked up until the classifier has enough training, and
// is once it has.
func TestClassifierUntrainedLooksNothingUp(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	store := &tokenLookups{TokenStore: NewMemoryTokenStore()}
	c := NewClassifier(store)
	trainCorpus(t, c, r, 19)
	if p, _, err := c.Classify(ctx, newTestMessage(corpusMessage(r, true))); err != nil || p != 0.5 {
		t.Fatalf("Classify after 19 messages = %v, %v", p, err)
	}
	if store.lookups != 0 {
		t.Fatalf("%d token lookups before the classifier was trained enough", store.lookups)
	}
	trainCorpus(t, c, r, 1)
	if p, _, err := c.Classify(ctx, newTestMessage(corpusMessage(r, true))); err != nil || p == 0.5 {
		t.Fatalf("Classify after 20 messages = %v, %v", p, err)
	}
	if store.lookups != 1 {
		t.Fatalf("%d token lookups for one message once trained, want 1", store.lookups)
	}
}
