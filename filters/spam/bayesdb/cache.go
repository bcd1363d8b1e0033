package bayesdb

import (
	"strings"
	"sync"
)

// bayesCacheMax bounds the token counts kept in memory; the cache is
// emptied when it grows past it.
const bayesCacheMax = 200_000

// bayesCacheMaxScopes bounds the scopes whose totals are kept (one per
// user and domain that gets mail, and the server's).
const bayesCacheMaxScopes = 100_000

// bayesCache keeps token counts and the totals of every scope read from
// the database, so that classifying a message does not query the database
// again for what an earlier message read (a message for one user reads
// three scopes: the server's, the domain's and the user's). It is shared
// by every scope of a Store and emptied of what Learn changes; a count
// read while a Learn was committing is not kept (gen tells). Another
// process training the same database is not seen until the entries are
// evicted: only the server trains.
type bayesCache struct {
	mu     sync.Mutex
	gen    uint64
	tokens map[string]Count // by stored key; zero counts = unknown token
	totals map[string]Count // by scope: trained spam and ham messages
}

// lookup returns the cached counts of keys, the keys it lacks, the totals
// of scope if cached, and the generation to hand to store.
func (c *bayesCache) lookup(scope string, keys []string) (hits map[string]Count, missing []string, spam, ham int64, totalsOK bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	hits = make(map[string]Count, len(keys))
	for _, k := range keys {
		if n, ok := c.tokens[k]; ok {
			hits[k] = n
		} else {
			missing = append(missing, k)
		}
	}
	t, totalsOK := c.totals[scope]
	return hits, missing, t.Spam, t.Ham, totalsOK, c.gen
}

// totalsOf returns the cached totals of scope, if cached.
func (c *bayesCache) totalsOf(scope string) (spam, ham int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.totals[scope]
	return t.Spam, t.Ham, ok
}

// store keeps counts and the totals of scope read from the database at
// generation gen, unless a Learn happened since.
func (c *bayesCache) store(gen uint64, scope string, keys []string, counts map[string]Count, spam, ham int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	c.keep(keys, counts)
	if c.totals == nil || len(c.totals) >= bayesCacheMaxScopes {
		c.totals = map[string]Count{}
	}
	c.totals[scope] = Count{Spam: spam, Ham: ham}
}

// keep adds the counts of keys to the cache, emptying it first if it
// would grow too large. c.mu is held.
func (c *bayesCache) keep(keys []string, counts map[string]Count) {
	if c.tokens == nil || len(c.tokens)+len(keys) > bayesCacheMax {
		c.tokens = make(map[string]Count, len(keys))
	}
	for _, k := range keys {
		// A copy: a key may be a substring of a whole message's text,
		// which the cache must not keep alive.
		c.tokens[strings.Clone(k)] = counts[k]
	}
}

// invalidate forgets keys and the totals after a Learn committed.
func (c *bayesCache) invalidate(keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range keys {
		delete(c.tokens, k)
	}
	clear(c.totals) // Learn changed one scope's; forgetting all is simpler and as rare
}
