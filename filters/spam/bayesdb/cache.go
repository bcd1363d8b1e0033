package bayesdb

import (
	"strings"
	"sync"
)

// bayesCacheMax bounds the token counts kept in memory; the cache is
// emptied when it grows past it.
const bayesCacheMax = 200_000

// bayesCache keeps token counts and totals read from the database, so that
// classifying a message does not query every token again. It is shared by
// every scope of a Store and emptied of what Learn changes; a count
// read while a Learn was committing is not kept (gen tells). Another
// process training the same database is not seen until the entries are
// evicted: only the server trains.
type bayesCache struct {
	mu       sync.Mutex
	gen      uint64
	tokens   map[string]Count // by stored key; zero counts = unknown token
	totalsOK bool
	spam     int64
	ham      int64
}

// lookup returns the cached counts of keys, the keys it lacks, the totals
// if cached, and the generation to hand to store.
func (c *bayesCache) lookup(keys []string) (hits map[string]Count, missing []string, spam, ham int64, totalsOK bool, gen uint64) {
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
	return hits, missing, c.spam, c.ham, c.totalsOK, c.gen
}

// store keeps counts read from the database at generation gen, unless a
// Learn happened since.
func (c *bayesCache) store(gen uint64, keys []string, counts map[string]Count, spam, ham int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	c.keep(keys, counts)
	c.spam, c.ham, c.totalsOK = spam, ham, true
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

// storeTokens keeps token counts read at generation gen (of a scope whose
// totals the cache does not keep), unless a Learn happened since.
func (c *bayesCache) storeTokens(gen uint64, keys []string, counts map[string]Count) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.keep(keys, counts)
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
	c.totalsOK = false
}
