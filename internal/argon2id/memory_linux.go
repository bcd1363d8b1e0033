package argon2id

import (
	"syscall"
	"unsafe"
)

// hugePage is the size of a transparent huge page on the platforms Yubin
// runs on; mappings are rounded up to it so that the kernel can back all
// of them with huge pages.
const hugePage = 2 << 20

// memory is working memory mapped for one hash.
type memory struct {
	blocks []block
	mapped []byte
}

// mapBlocks maps n zeroed blocks outside the Go heap, asking the kernel
// for transparent huge pages (one page fault per 2 MiB instead of per
// 4 KiB; where the kernel has none, small pages are used).
func mapBlocks(n int) (*memory, error) {
	size := (n*blockSize + hugePage - 1) / hugePage * hugePage
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, err
	}
	_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE) // advice only: small pages work too
	return &memory{blocks: unsafe.Slice((*block)(unsafe.Pointer(&b[0])), n), mapped: b}, nil
}

// unmap gives the memory back to the kernel, which wipes it before any
// other use.
func (m *memory) unmap() {
	_ = syscall.Munmap(m.mapped)
	m.blocks, m.mapped = nil, nil
}
