package mailstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// headerMemory keeps the cached headers (see headercache.go) of the
// bodies listed lately in memory, by body key, so that a listing with
// headers (SEARCH FROM, FETCH ENVELOPE, SORT) needs no join with
// message_headers for them: reading the header bytes through the join
// cost more than the rest of a listed message. A body never changes and
// its key is never used again (blob keys are random), so an entry is
// never stale; a body that goes away leaves its entry until it is pushed
// out. Entries are pushed out oldest first beyond a bound on their bytes.
type headerMemory struct {
	mu    sync.Mutex
	max   int               // bytes of headers kept at most
	used  int               // bytes of headers kept
	byKey map[string][]byte // nil: the body has none (encrypted, too long)
	order []string          // keys, oldest first, from head on
	head  int
}

// headerMemoryBytes bounds the headers kept in memory: some 8,000 messages
// of the usual 1 KiB of cached header.
const headerMemoryBytes = 8 << 20

// headerMemoryEntry is what an entry costs beyond its header bytes.
const headerMemoryEntry = 96

// maxHeaderMemoryListing is the largest listing whose headers are kept in
// memory; a larger one could push out its own entries before they are
// used again, so it only takes those already there.
const maxHeaderMemoryListing = 4096

func newHeaderMemory(maxBytes int) *headerMemory {
	return &headerMemory{max: maxBytes, byKey: map[string][]byte{}}
}

// get returns the cached header of the body key (read-only; nil if it has
// none) and whether it is known.
func (m *headerMemory) get(key string) ([]byte, bool) {
	m.mu.Lock()
	h, ok := m.byKey[key]
	m.mu.Unlock()
	return h, ok
}

// put remembers the cached header of the body key.
func (m *headerMemory) put(key string, header []byte) {
	cost := len(key) + len(header) + headerMemoryEntry
	if cost > m.max {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byKey[key]; ok {
		return
	}
	m.byKey[key] = header
	m.order = append(m.order, key)
	m.used += cost
	for m.used > m.max && m.head < len(m.order) {
		old := m.order[m.head]
		m.order[m.head] = ""
		m.head++
		m.used -= len(old) + len(m.byKey[old]) + headerMemoryEntry
		delete(m.byKey, old)
	}
	if m.head > len(m.order)/2 && m.head > 1024 {
		m.order = slices.Clone(m.order[m.head:])
		m.head = 0
	}
}

// attachCachedHeaders sets the CachedHeader of metas from memory and, for
// the bodies not there, from message_headers in one query per chunk of
// keys, keeping those in memory if remember. It returns the indexes of the
// messages whose body has no row in the header cache (to be filled, see
// fillCachedHeaders).
func (s *Store) attachCachedHeaders(ctx context.Context, metas []MessageMeta, remember bool) (missing []int, err error) {
	var unknown []int
	var keys []string
	seen := map[string]bool{}
	for i := range metas {
		key := metas[i].BlobKey
		if h, ok := s.headerMem.get(key); ok {
			metas[i].CachedHeader = h
			continue
		}
		unknown = append(unknown, i)
		if !seen[key] {
			seen[key] = true
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	found := make(map[string][]byte, len(keys))
	for chunk := range slices.Chunk(keys, fillChunk) {
		rows, err := s.db.WithContext(rowsContext(ctx)).Raw("SELECT body_key, header FROM message_headers WHERE body_key IN ?", chunk).Rows()
		if err != nil {
			return nil, fmt.Errorf("read cached headers: %w", err)
		}
		for rows.Next() {
			var key string
			var h []byte // nil for NULL: the body has none
			if err := rows.Scan(&key, &h); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read cached headers: %w", err)
			}
			found[key] = h
			if remember {
				s.headerMem.put(key, h)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read cached headers: %w", err)
		}
	}
	for _, i := range unknown {
		h, ok := found[metas[i].BlobKey]
		if !ok {
			missing = append(missing, i)
			continue
		}
		metas[i].CachedHeader = h
	}
	return missing, nil
}
