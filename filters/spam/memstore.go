package spam

import (
	"context"
	"sync"
)

// MemoryTokenStore is a TokenStore in memory, for tests and tools. It is
// safe for concurrent use.
type MemoryTokenStore struct {
	mu          sync.Mutex
	counts      map[string]TokenCount
	nSpam, nHam int64
}

// NewMemoryTokenStore returns an empty MemoryTokenStore.
func NewMemoryTokenStore() *MemoryTokenStore {
	return &MemoryTokenStore{counts: map[string]TokenCount{}}
}

// Counts implements TokenStore.
func (m *MemoryTokenStore) Counts(ctx context.Context, tokens []string) (map[string]TokenCount, int64, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]TokenCount)
	for _, t := range tokens {
		if c, ok := m.counts[t]; ok {
			out[t] = c
		}
	}
	return out, m.nSpam, m.nHam, nil
}

// Learn implements TokenStore.
func (m *MemoryTokenStore) Learn(ctx context.Context, tokens []string, spam bool, delta int) error {
	if delta == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d := int64(delta)
	if spam {
		m.nSpam = max(m.nSpam+d, 0)
	} else {
		m.nHam = max(m.nHam+d, 0)
	}
	done := make(map[string]bool, len(tokens))
	for _, t := range tokens {
		if done[t] {
			continue
		}
		done[t] = true
		c := m.counts[t]
		if spam {
			c.Spam = max(c.Spam+d, 0)
		} else {
			c.Ham = max(c.Ham+d, 0)
		}
		if c.Spam == 0 && c.Ham == 0 {
			delete(m.counts, t)
		} else {
			m.counts[t] = c
		}
	}
	return nil
}
