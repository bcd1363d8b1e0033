package spam

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/yubinmail/yubin/filters"
)

// TokenCount is how many trained spam and ham messages contained a token.
// It is an alias of an unnamed struct type, so that stores in other
// packages (e.g. bayesdb.Store) can implement TokenStore without
// importing this package.
type TokenCount = struct{ Spam, Ham int64 }

// TokenStore keeps the counts of the Bayesian classifier.
type TokenStore interface {
	// Counts returns the counts of the tokens seen in training (unknown
	// tokens may be absent) and the numbers of trained spam and ham
	// messages.
	Counts(ctx context.Context, tokens []string) (counts map[string]TokenCount, nSpam, nHam int64, err error)
	// Learn adds delta (+1 to learn, -1 to unlearn) to the spam or ham
	// count of each token and to the number of trained spam or ham
	// messages. Counts never go below 0.
	Learn(ctx context.Context, tokens []string, spam bool, delta int) error
}

// Classifier parameters (Robinson's, with SpamBayes' defaults).
const (
	// minTrained is how many spam and how many ham messages must have been
	// trained before the classifier gives an opinion.
	minTrained = 20
	// maxClues is how many of the most extreme tokens are combined.
	maxClues = 150
	// robinsonS and robinsonX: strength and value of the prior belief
	// about a token.
	robinsonS = 1.0
	robinsonX = 0.5
	// minProbStrength ignores tokens with |p - 0.5| below it.
	minProbStrength = 0.1
	// maxTokens bounds the distinct tokens taken from one message.
	maxTokens = 3000
	// minWordLen and maxWordLen bound words, in characters.
	minWordLen, maxWordLen = 3, 40
)

// Clue is a token that contributed to a classification.
type Clue struct {
	Token     string
	Prob      float64 // the token's spam probability
	Spam, Ham int64   // its training counts
}

// MessageTrainer is implemented by token stores that remember what each
// message was trained as (by the SHA-256 digest of its raw bytes, hex):
// TrainMessage learns it once, and first unlearns it from the other class
// if it was trained as that (see bayesdb.Store.TrainMessage).
type MessageTrainer interface {
	TrainMessage(ctx context.Context, digest string, tokens []string, spam bool) (trained bool, err error)
}

// Training scopes. A classifier's counts are kept per scope: the server's
// (trained by server admins) applies to every message, a domain's (trained
// by its domain admins) to messages whose recipients are all in that
// domain, a user's (trained by the user's own Junk moves) to messages for
// that user alone. A verdict adds up the counts of the scopes that apply,
// so no one's training reaches mail for others.
const ServerScope = ""

// DomainScope returns the training scope of a domain.
func DomainScope(domain string) string { return "domain:" + strings.ToLower(domain) }

// UserScope returns the training scope of a user.
func UserScope(userID int64) string { return "user:" + strconv.FormatInt(userID, 10) }

// Scopes returns the training scopes that apply to a message for users:
// the server's, the domain's when all users are in one domain, the user's
// when there is one user.
func Scopes(users []filters.LocalUser) []string {
	scopes := []string{ServerScope}
	if len(users) == 0 {
		return scopes
	}
	domain := ""
	for i, u := range users {
		d := strings.ToLower(u.Address[strings.LastIndexByte(u.Address, '@')+1:])
		if i > 0 && d != domain {
			return scopes
		}
		domain = d
	}
	if domain != "" {
		scopes = append(scopes, DomainScope(domain))
	}
	if len(users) == 1 && users[0].ID != 0 {
		scopes = append(scopes, UserScope(users[0].ID))
	}
	return scopes
}

// Classifier is a Bayesian spam classifier using Robinson's token
// probabilities and Fisher's chi-square combining, as in SpamBayes. It is
// safe for concurrent use if its stores are.
type Classifier struct {
	store TokenStore
	// scoped returns the store of a scope other than the server's; nil
	// when the classifier has the server's only.
	scoped func(scope string) TokenStore
}

// NewClassifier returns a classifier keeping the server's counts in store.
func NewClassifier(store TokenStore) *Classifier {
	return &Classifier{store: store}
}

// WithScopes returns a classifier that also keeps counts per domain and
// per user (see Scopes), in the stores scoped returns.
func (c *Classifier) WithScopes(scoped func(scope string) TokenStore) *Classifier {
	return &Classifier{store: c.store, scoped: scoped}
}

// storeOf returns the store of scope, or an error for a scope the
// classifier does not keep.
func (c *Classifier) storeOf(scope string) (TokenStore, error) {
	if scope == ServerScope {
		return c.store, nil
	}
	if c.scoped == nil {
		return nil, fmt.Errorf("bayes: no training scope %q", scope)
	}
	return c.scoped(scope), nil
}

// Totals returns the numbers of spam and ham messages trained in scope.
func (c *Classifier) Totals(ctx context.Context, scope string) (nSpam, nHam int64, err error) {
	store, err := c.storeOf(scope)
	if err != nil {
		return 0, 0, err
	}
	_, nSpam, nHam, err = store.Counts(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("bayes totals: %w", err)
	}
	return nSpam, nHam, nil
}

// Train learns the raw message read from raw as spam or ham, in the
// server's scope.
func (c *Classifier) Train(ctx context.Context, raw io.Reader, spam bool) error {
	return c.TrainIn(ctx, ServerScope, raw, spam)
}

// TrainIn learns the raw message read from raw as spam or ham in scope.
// With a store that remembers trained messages (MessageTrainer), a message
// trained as the same again counts once, and one trained as the other is
// moved over: its earlier training is undone.
func (c *Classifier) TrainIn(ctx context.Context, scope string, raw io.Reader, spam bool) error {
	store, err := c.storeOf(scope)
	if err != nil {
		return err
	}
	data, tokens, err := readTokens(ctx, raw)
	if err != nil {
		return err
	}
	if mt, ok := store.(MessageTrainer); ok {
		sum := sha256.Sum256(data)
		if _, err := mt.TrainMessage(ctx, hex.EncodeToString(sum[:]), tokens, spam); err != nil {
			return fmt.Errorf("bayes: %w", err)
		}
		return nil
	}
	if err := store.Learn(ctx, tokens, spam, 1); err != nil {
		return fmt.Errorf("bayes: %w", err)
	}
	return nil
}

// Untrain forgets a message that was trained as spam or ham in the
// server's scope, with a store that does not remember trained messages.
func (c *Classifier) Untrain(ctx context.Context, raw io.Reader, spam bool) error {
	_, tokens, err := readTokens(ctx, raw)
	if err != nil {
		return err
	}
	if err := c.store.Learn(ctx, tokens, spam, -1); err != nil {
		return fmt.Errorf("bayes: %w", err)
	}
	return nil
}

// readTokens reads a raw message (up to the parser's limit) and returns it
// with its tokens.
func readTokens(ctx context.Context, raw io.Reader) ([]byte, []string, error) {
	data, err := io.ReadAll(io.LimitReader(raw, maxReadBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("bayes: read message: %w", err)
	}
	msg := filters.NewMessage(filters.ConnInfo{}, filters.Envelope{}, bytes.NewReader(data), int64(len(data)))
	tokens := tokenize(parseMessageOf(ctx, msg))
	return data, tokens, ctx.Err()
}

// Classify returns the probability that msg is spam, from 0 (ham) to 1
// (spam), with the clues it is based on, most extreme first. Until at least
// 20 spam and 20 ham messages have been trained it returns 0.5 and no clues.
func (c *Classifier) Classify(ctx context.Context, msg *filters.Message) (float64, []Clue, error) {
	return c.classify(ctx, parseMessageOf(ctx, msg), Scopes(msg.Users))
}

// trained reports whether the scopes together have enough training to
// judge a message: at least minTrained spam and minTrained ham messages.
// The stores keep their totals in memory (bayesdb's cache), so this
// costs no query once they were read.
func (c *Classifier) trained(ctx context.Context, scopes []string) (bool, error) {
	_, nSpam, nHam, err := c.store.Counts(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("bayes: %w", err)
	}
	if c.scoped != nil {
		for _, scope := range scopes {
			if scope == ServerScope {
				continue
			}
			_, s, h, err := c.scoped(scope).Counts(ctx, nil)
			if err != nil {
				return false, fmt.Errorf("bayes: scope %s: %w", scope, err)
			}
			nSpam, nHam = nSpam+s, nHam+h
		}
	}
	return nSpam >= minTrained && nHam >= minTrained, nil
}

// errUntrained says the classifier has too little training to judge.
var errUntrained = errors.New("bayes: not enough training")

func (c *Classifier) classify(ctx context.Context, pm *parsedMessage, scopes []string) (float64, []Clue, error) {
	p, clues, err := c.classifyTokens(ctx, func() []string { return tokenize(pm) }, scopes)
	if errors.Is(err, errUntrained) {
		return 0.5, nil, nil
	}
	return p, clues, err
}

// classifyTokens returns errUntrained (and 0.5) without enough training,
// before it asks for the message's tokens (tokenizing is most of the work
// of classifying a message, and until the scopes are trained it would be
// for nothing). The counts are those of the scopes added up (the server's
// alone when the classifier keeps no others).
func (c *Classifier) classifyTokens(ctx context.Context, tokenized func() []string, scopes []string) (float64, []Clue, error) {
	trained, err := c.trained(ctx, scopes)
	if err != nil {
		return 0.5, nil, err
	}
	if !trained {
		return 0.5, nil, errUntrained
	}
	tokens := tokenized()
	counts, nSpam, nHam, err := c.store.Counts(ctx, tokens)
	if err != nil {
		return 0.5, nil, fmt.Errorf("bayes: %w", err)
	}
	if c.scoped != nil {
		for _, scope := range scopes {
			if scope == ServerScope {
				continue
			}
			more, s, h, err := c.scoped(scope).Counts(ctx, tokens)
			if err != nil {
				return 0.5, nil, fmt.Errorf("bayes: scope %s: %w", scope, err)
			}
			if s == 0 && h == 0 {
				continue
			}
			nSpam, nHam = nSpam+s, nHam+h
			if counts == nil {
				counts = make(map[string]TokenCount, len(more))
			}
			for t, n := range more {
				sum := counts[t]
				sum.Spam += n.Spam
				sum.Ham += n.Ham
				counts[t] = sum
			}
		}
	}
	if nSpam < minTrained || nHam < minTrained {
		return 0.5, nil, errUntrained
	}
	var clues []Clue
	if len(counts) > 0 {
		clues = make([]Clue, 0, min(len(counts), len(tokens)))
	}
	for _, t := range tokens {
		tc, ok := counts[t]
		if !ok {
			continue
		}
		p := tokenProb(tc, nSpam, nHam)
		if math.Abs(p-0.5) < minProbStrength {
			continue
		}
		clues = append(clues, Clue{Token: t, Prob: p, Spam: tc.Spam, Ham: tc.Ham})
	}
	// Most extreme first, then by token. slices.SortStableFunc runs the
	// same algorithm as sort.SliceStable did, without its allocations.
	slices.SortStableFunc(clues, func(a, b Clue) int {
		da, db := math.Abs(a.Prob-0.5), math.Abs(b.Prob-0.5)
		switch {
		case da > db:
			return -1
		case da != db:
			return 1
		}
		return strings.Compare(a.Token, b.Token)
	})
	if len(clues) > maxClues {
		clues = clues[:maxClues]
	}
	return chi2Combine(clues), clues, nil
}

// tokenProb is Robinson's f(w): the token's spam ratio, moved towards
// robinsonX the fewer messages it was seen in.
func tokenProb(tc TokenCount, nSpam, nHam int64) float64 {
	spam, ham := min(tc.Spam, nSpam), min(tc.Ham, nHam)
	spam, ham = max(spam, 0), max(ham, 0)
	n := float64(spam + ham)
	if n == 0 {
		return robinsonX
	}
	spamRatio := float64(spam) / float64(nSpam)
	hamRatio := float64(ham) / float64(nHam)
	p := spamRatio / (spamRatio + hamRatio)
	return (robinsonS*robinsonX + n*p) / (robinsonS + n)
}

// chi2Combine combines token probabilities with Fisher's method, as
// SpamBayes does: S and H are the confidences that the message is spam and
// ham, and the result is (S - H + 1) / 2.
func chi2Combine(clues []Clue) float64 {
	if len(clues) == 0 {
		return 0.5
	}
	var lnSpam, lnHam float64
	for _, c := range clues {
		lnSpam += math.Log(1 - c.Prob)
		lnHam += math.Log(c.Prob)
	}
	n := 2 * len(clues)
	s := 1 - chi2Q(-2*lnSpam, n)
	h := 1 - chi2Q(-2*lnHam, n)
	return (s - h + 1) / 2
}

// chi2Q returns the probability that a chi-square variable with v (even)
// degrees of freedom is at least x2.
func chi2Q(x2 float64, v int) float64 {
	m := x2 / 2
	term := math.Exp(-m)
	sum := term
	for i := 1; i < v/2; i++ {
		term *= m / float64(i)
		sum += term
	}
	return min(sum, 1)
}

// tokenize returns the distinct tokens of a parsed message: lower-case
// words of 3 to 40 characters from the subject and the text (HTML without
// its markup), and header tokens such as "from-domain:example.com",
// "url:host.example" and "attach-ext:exe". Tokens longer than 64 bytes are
// shortened. At most 3000 tokens are returned, in order of appearance.
//
// The tokens are stored in the database: the same message must always give
// the same tokens (testdata/tokens.json pins them).
func tokenize(pm *parsedMessage) []string {
	tk := tokenizers.Get().(*tokenizer)
	defer tk.release()
	tk.words(pm.Subject)
	tk.headerTokens(pm)
	for _, t := range pm.Texts {
		if tk.full() {
			break
		}
		tk.words(t)
	}
	// tk.out goes back to the pool: return a copy of the right size.
	return slices.Clone(tk.out)
}

// tokenizers holds tokenizers for reuse, with their map and slice already
// grown.
var tokenizers = sync.Pool{New: func() any {
	return &tokenizer{seen: make(map[string]bool, 256), out: make([]string, 0, 256)}
}}

type tokenizer struct {
	seen map[string]bool
	out  []string
}

// release empties tk and puts it back into tokenizers, unless it grew
// large.
func (tk *tokenizer) release() {
	if len(tk.out) > 1000 {
		return // let a big one go rather than keep and clear it
	}
	clear(tk.seen)
	clear(tk.out) // no strings kept alive by the pool
	tk.out = tk.out[:0]
	tokenizers.Put(tk)
}

func (tk *tokenizer) full() bool { return len(tk.out) >= maxTokens }

func (tk *tokenizer) add(t string) {
	if t == "" || tk.full() {
		return
	}
	t = strings.ToValidUTF8(t, "\uFFFD")
	if len(t) > 64 {
		// Cut on a character boundary; similar long tokens may merge,
		// which is harmless.
		t = t[:60]
		for !utf8.ValidString(t) {
			t = t[:len(t)-1]
		}
		t += "..."
	}
	if !tk.seen[t] {
		tk.seen[t] = true
		tk.out = append(tk.out, t)
	}
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '$' || r == '\''
}

// isASCIIWordRune is isWordRune for c < utf8.RuneSelf.
func isASCIIWordRune(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '$' || c == '\''
}

// words adds the words of s: the runs of word runes (see isWordRune), an
// invalid UTF-8 byte separating words as U+FFFD does. It is
//
//	for w := range strings.FieldsFuncSeq(s, func(r rune) bool { return !isWordRune(r) }) {
//		if tk.full() {
//			return
//		}
//		w = strings.Trim(w, "'")
//		if hasCJK(w) {
//			tk.cjkWord(w)
//		} else if n := utf8.RuneCountInString(w); n >= minWordLen && n <= maxWordLen {
//			tk.add(strings.ToLower(w))
//		}
//	}
//
// (reference_test.go checks it still is) with a fast path for ASCII words,
// most of them, which it lower-cases into a buffer to look up in tk.seen
// without allocating.
func (tk *tokenizer) words(s string) {
	for i := 0; i < len(s); {
		// Skip to the start of a word.
		if c := s[i]; c < utf8.RuneSelf {
			if !isASCIIWordRune(c) {
				i++
				continue
			}
		} else if r, size := utf8.DecodeRuneInString(s[i:]); !isWordRune(r) {
			i += size
			continue
		}
		// Find its end.
		start, ascii := i, true
		for i < len(s) {
			if c := s[i]; c < utf8.RuneSelf {
				if !isASCIIWordRune(c) {
					break
				}
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if !isWordRune(r) {
				break
			}
			ascii = false
			i += size
		}
		if tk.full() {
			return
		}
		w := strings.Trim(s[start:i], "'")
		if ascii {
			tk.addASCIIWord(w)
			continue
		}
		if hasCJK(w) {
			tk.cjkWord(w)
		} else if n := utf8.RuneCountInString(w); n >= minWordLen && n <= maxWordLen {
			tk.add(strings.ToLower(w))
		}
	}
}

// isCJK reports the characters of Chinese and Japanese text, written
// without spaces between words: kanji, hiragana, katakana (also half
// width) and the marks that go with them.
func isCJK(r rune) bool {
	return r >= 0x3005 && unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana) ||
		r == 0x3005 || r == 0x30FC || r == 0xFF70 // 々, ー and its half-width form
}

// hasCJK reports whether w has a CJK character (see isCJK).
func hasCJK(w string) bool {
	for _, r := range w {
		if r >= 0x3005 && isCJK(r) {
			return true
		}
	}
	return false
}

// cjkWord adds the tokens of a word with Chinese or Japanese text, which
// has no spaces between its words: normalised (NFKC: half-width katakana
// and full-width Latin letters become the usual forms), each run of CJK
// characters gives its character bigrams (and a lone kanji itself, which
// carries a meaning), and the text between runs (Latin letters, digits)
// gives words as elsewhere. "今すぐ無料で登録" gives 今す, すぐ, ぐ無, 無料,
// 料で, で登, 登録: the bigrams that make up its words are learnt whatever
// the word boundaries.
func (tk *tokenizer) cjkWord(w string) {
	w = norm.NFKC.String(w)
	var run []rune
	other := -1 // start of the non-CJK text, or -1
	flushRun := func() {
		switch {
		case len(run) == 1 && unicode.Is(unicode.Han, run[0]):
			tk.add(string(run))
		case len(run) > 1:
			for i := 0; i+1 < len(run); i++ {
				tk.add(string(run[i : i+2]))
			}
		}
		run = run[:0]
	}
	flushOther := func(end int) {
		if other < 0 {
			return
		}
		o := strings.Trim(w[other:end], "'")
		other = -1
		for part := range strings.FieldsFuncSeq(o, func(r rune) bool { return !isWordRune(r) }) {
			if n := utf8.RuneCountInString(part); n >= minWordLen && n <= maxWordLen {
				tk.add(strings.ToLower(part))
			}
		}
	}
	for i, r := range w {
		if isCJK(r) {
			flushOther(i)
			run = append(run, r)
			continue
		}
		flushRun()
		if other < 0 {
			other = i
		}
	}
	flushRun()
	flushOther(len(w))
}

// addASCIIWord adds the ASCII word w in lower case if it has an allowed
// length: tk.add(strings.ToLower(w)), without allocating when the word
// was seen already or is in lower case.
func (tk *tokenizer) addASCIIWord(w string) {
	if len(w) < minWordLen || len(w) > maxWordLen {
		return
	}
	// No need to check for validity or length: w is ASCII, of at most
	// maxWordLen (< 64) bytes.
	var buf [maxWordLen]byte
	lower := buf[:len(w)]
	hasUpper := false
	for i := 0; i < len(w); i++ {
		c := w[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
			hasUpper = true
		}
		lower[i] = c
	}
	if !hasUpper {
		// Like strings.ToLower, use w itself.
		if !tk.seen[w] {
			tk.seen[w] = true
			tk.out = append(tk.out, w)
		}
		return
	}
	if tk.seen[string(lower)] { // does not allocate
		return
	}
	t := string(lower)
	tk.seen[t] = true
	tk.out = append(tk.out, t)
}

func (tk *tokenizer) headerTokens(pm *parsedMessage) {
	for _, k := range []struct{ field, prefix string }{
		{"From", "from"}, {"Reply-To", "reply-to"}, {"Return-Path", "return-path"},
	} {
		addrs, err := pm.addressList(k.field)
		if err != nil {
			if pm.Header.Has(k.field) {
				tk.add(k.prefix + ":invalid")
			}
			continue
		}
		for _, a := range addrs {
			if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
				tk.add(k.prefix + "-domain:" + strings.ToLower(a.Address[at+1:]))
			}
			if k.field == "From" && a.Name != "" {
				tk.add("from:has-name")
			}
		}
	}
	if m := pm.Header.Get("X-Mailer"); m != "" {
		tk.add("x-mailer:" + strings.ToLower(strings.Join(strings.Fields(m), " ")))
	}
	for _, t := range pm.MediaTypes {
		tk.add("content-type:" + t)
	}
	for _, a := range pm.Attachments {
		if ext := strings.ToLower(path.Ext(a.Name)); ext != "" {
			tk.add("attach-ext:" + ext[1:])
		}
	}
	hosts := make([]string, 0, len(pm.Links))
	for _, l := range pm.Links {
		hosts = append(hosts, l.Host)
	}
	slices.Sort(hosts)
	for _, h := range slices.Compact(hosts) {
		tk.add("url:" + h)
	}
}
