package mta

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/yubinmail/yubin/core"
)

// spool holds one incoming message while it is filtered and delivered: in
// memory up to memMax bytes, in a temporary file beyond. It is written once
// (ReadFrom) and then read any number of times, concurrently, through
// ReadAt. Close removes the temporary file; reads after Close fail with
// os.ErrClosed (a filter the chain gave up waiting for may still be
// reading). What goes to the file is encrypted (AES-256-CTR) with a key
// made for this spool and kept in memory only, so that the data folder
// never holds a message's text, not even in the blocks of a removed spool
// file or in one a crash left behind.
type spool struct {
	dir    string // where temporary files go
	max    int64  // hard limit: ReadFrom fails with core.ErrTooLarge beyond it
	memMax int64  // bytes kept in memory before spilling to a file

	mu     sync.RWMutex // Close against ReadAt
	closed bool
	// mem holds the message while it is in memory: blocks of
	// spoolBlockSize bytes from spoolBlocks, the last one filling (a
	// large message is not copied over and over as one slice grows).
	mem   [][]byte
	f     *os.File
	block cipher.Block // the file's key; set with f
	size  int64
}

// xorAt encrypts or decrypts p in place as the bytes at off of the file
// (CTR mode: the counter block is the 16-byte big-endian block number).
func (sp *spool) xorAt(p []byte, off int64) {
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[8:], uint64(off/aes.BlockSize))
	stream := cipher.NewCTR(sp.block, iv[:])
	if skip := int(off % aes.BlockSize); skip > 0 {
		var pad [aes.BlockSize]byte
		stream.XORKeyStream(pad[:skip], pad[:skip])
	}
	stream.XORKeyStream(p, p)
}

// writeFile appends p, encrypted, to the file (p is not changed).
func (sp *spool) writeFile(p []byte, off int64) error {
	enc := make([]byte, len(p))
	copy(enc, p)
	sp.xorAt(enc, off)
	if _, err := sp.f.Write(enc); err != nil {
		return fmt.Errorf("spool: write %s: %w", sp.f.Name(), err)
	}
	return nil
}

func newSpool(dir string, max, memMax int64) *spool {
	return &spool{dir: dir, max: max, memMax: memMax}
}

// ReadFrom copies r into the spool until EOF. It stops with core.ErrTooLarge
// (wrapped) as soon as the message exceeds the limit, and with r's error if
// reading fails.
func (sp *spool) ReadFrom(r io.Reader) (int64, error) {
	chunkp := spoolChunks.Get().(*[]byte)
	defer spoolChunks.Put(chunkp)
	chunk := *chunkp
	var total int64
	for {
		n, err := r.Read(chunk)
		if n > 0 {
			if sp.size+int64(n) > sp.max {
				return total, fmt.Errorf("spool: %w (%d bytes)", core.ErrTooLarge, sp.max)
			}
			if werr := sp.write(chunk[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (sp *spool) write(p []byte) error {
	if sp.f == nil && sp.size+int64(len(p)) > sp.memMax {
		f, err := os.CreateTemp(sp.dir, "yubin-spool-*")
		if err != nil {
			return fmt.Errorf("spool: create temporary file: %w", err)
		}
		var key [32]byte
		rand.Read(key[:])
		block, err := aes.NewCipher(key[:])
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			return fmt.Errorf("spool: %w", err)
		}
		sp.f, sp.block = f, block
		for i, b := range sp.mem {
			if err := sp.writeFile(b, int64(i)*spoolBlockSize); err != nil {
				return err
			}
		}
		sp.mu.Lock()
		sp.releaseMem()
		sp.mu.Unlock()
	}
	if sp.f != nil {
		if err := sp.writeFile(p, sp.size); err != nil {
			return err
		}
	} else {
		for rest := p; len(rest) > 0; {
			k := len(sp.mem) - 1
			if k < 0 || len(sp.mem[k]) == spoolBlockSize {
				sp.mem = append(sp.mem, (*spoolBlocks.Get().(*[]byte))[:0])
				k++
			}
			n := min(len(rest), spoolBlockSize-len(sp.mem[k]))
			sp.mem[k] = append(sp.mem[k], rest[:n]...)
			rest = rest[n:]
		}
	}
	sp.size += int64(len(p))
	return nil
}

// spoolChunks keeps ReadFrom's read buffers, and spoolBlocks the blocks
// of spools in memory, between messages: every message that comes in
// needs both.
var (
	spoolChunks = sync.Pool{New: func() any { b := make([]byte, spoolChunkSize); return &b }}
	spoolBlocks = sync.Pool{New: func() any { b := make([]byte, 0, spoolBlockSize); return &b }}
)

// spoolChunkSize is the size of ReadFrom's reads (and of a data guard's
// output buffer, kept in the same pool).
const spoolChunkSize = 8 << 10

// spoolBlockSize is the size of a block of a spool in memory.
const spoolBlockSize = 16 << 10

// releaseMem gives the spool's blocks back to spoolBlocks; sp.mu is held
// for writing.
func (sp *spool) releaseMem() {
	for i, b := range sp.mem {
		b = b[:0]
		spoolBlocks.Put(&b)
		sp.mem[i] = nil
	}
	sp.mem = nil
}

// Size is the number of bytes spooled.
func (sp *spool) Size() int64 { return sp.size }

// ReadAt reads the spooled bytes at off.
func (sp *spool) ReadAt(p []byte, off int64) (int, error) {
	sp.mu.RLock()
	defer sp.mu.RUnlock()
	if sp.closed {
		return 0, fmt.Errorf("read spooled message: %w", os.ErrClosed)
	}
	if off >= sp.size {
		return 0, io.EOF
	}
	if sp.f != nil {
		var n int
		var err error
		if rest := sp.size - off; int64(len(p)) > rest {
			n, err = sp.f.ReadAt(p[:rest], off)
			if err == nil {
				err = io.EOF
			}
		} else {
			n, err = sp.f.ReadAt(p, off)
		}
		sp.xorAt(p[:n], off)
		return n, err
	}
	n := 0
	for n < len(p) && off < sp.size {
		c := copy(p[n:], sp.mem[off/spoolBlockSize][off%spoolBlockSize:])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Reader returns a new reader over the whole message.
func (sp *spool) Reader() io.Reader { return io.NewSectionReader(sp, 0, sp.size) }

// Section returns a reader over n bytes at off.
func (sp *spool) Section(off, n int64) io.Reader { return io.NewSectionReader(sp, off, n) }

// Close releases the memory and removes the temporary file, if any.
func (sp *spool) Close() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.closed {
		return nil
	}
	sp.closed = true
	sp.releaseMem()
	if sp.f == nil {
		return nil
	}
	name := sp.f.Name()
	err := sp.f.Close()
	sp.f = nil
	if rerr := os.Remove(name); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return fmt.Errorf("spool: remove %s: %w", name, err)
	}
	return nil
}
