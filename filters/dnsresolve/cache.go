package dnsresolve

import (
	"container/list"
	"sync"
	"time"
)

// cache is a bounded LRU cache of lookup results with fixed expiry times.
type cache struct {
	mu       sync.Mutex
	max      int
	ttl, neg time.Duration
	now      func() time.Time
	ll       *list.List // of *cacheEntry, most recently used first
	entries  map[string]*list.Element
}

type cacheEntry struct {
	key     string
	val     any
	err     error
	expires time.Time
}

func newCache(max int, ttl, neg time.Duration, now func() time.Time) *cache {
	return &cache{max: max, ttl: ttl, neg: neg, now: now, ll: list.New(), entries: make(map[string]*list.Element)}
}

// get returns the cached value or error of key, and whether there was an
// unexpired entry.
func (c *cache) get(key string) (any, error, bool) {
	return c.getBytes([]byte(key))
}

// getBytes is get with the key as bytes, which the lookup of the hit path
// does not copy.
func (c *cache) getBytes(key []byte) (any, error, bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[string(key)]
	if !ok {
		return nil, nil, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.ll.Remove(el)
		delete(c.entries, e.key)
		return nil, nil, false
	}
	c.ll.MoveToFront(el)
	return e.val, e.err, true
}

// put caches val, or the "not found" error err, under key.
func (c *cache) put(key string, val any, err error) {
	ttl := c.ttl
	if err != nil {
		ttl = c.neg
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &cacheEntry{key: key, val: val, err: err, expires: c.now().Add(ttl)}
	if el, ok := c.entries[key]; ok {
		el.Value = e
		c.ll.MoveToFront(el)
		return
	}
	c.entries[key] = c.ll.PushFront(e)
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.entries, last.Value.(*cacheEntry).key)
	}
}

// len returns the number of entries, expired or not.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
