//go:build !linux

package argon2id

// memory is working memory for one hash: on this platform a slice of the
// Go heap.
type memory struct {
	blocks []block
}

// mapBlocks allocates n zeroed blocks.
func mapBlocks(n int) (*memory, error) {
	return &memory{blocks: make([]block, n)}, nil
}

// unmap wipes the memory and leaves it to the garbage collector.
func (m *memory) unmap() {
	clear(m.blocks)
	m.blocks = nil
}
