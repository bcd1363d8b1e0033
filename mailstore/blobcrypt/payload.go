package blobcrypt

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// The age payload (age-encryption.org/v1, "Payload"): a 16-byte nonce,
// then the plaintext in chunks of 64 KiB, each sealed with
// ChaCha20-Poly1305 under HKDF-SHA-256(file key, nonce, "payload") with a
// nonce of an 11-byte big-endian chunk counter and a last-chunk flag byte.
// age itself writes it (Seal); Body reads it with pooled chunk buffers,
// because reading a body is what IMAP and POP3 do all day and age's own
// reader allocates 64 KiB per read.
const (
	chunkSize        = 64 << 10
	encChunkSize     = chunkSize + chacha20poly1305.Overhead
	payloadNonceSize = 16
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, encChunkSize); return &b }}

// Body is the plaintext of an open sealed body, read at any offset. It is
// safe for concurrent use.
type Body struct {
	src     io.ReaderAt
	aead    cipher.AEAD
	payload int64 // offset of the first chunk in src
	encSize int64 // size of the chunks in src
	chunks  int64
	size    int64 // plaintext size, binding line included
	skip    int64 // binding line, hidden from readers

	mu    sync.Mutex
	buf   *[]byte // pooled, taken at the first read of a chunk but the last
	cur   int64   // chunk held in buf, -1: none
	plain []byte  // its plaintext, in buf
	// last holds the plaintext of the last chunk, decrypted at open (it
	// authenticates the size) and kept, so that reading a body through
	// does not decrypt it twice. nil once closed.
	last      *[]byte
	lastPlain []byte
}

// payloadKey derives the payload key from the file key and the payload
// nonce.
func payloadKey(fileKey, nonce []byte) ([chacha20poly1305.KeySize]byte, error) {
	var out [chacha20poly1305.KeySize]byte
	key, err := hkdf.Key(sha256.New, fileKey, nonce, "payload", chacha20poly1305.KeySize)
	if err != nil {
		return out, fmt.Errorf("payload key: %w", err)
	}
	copy(out[:], key)
	clear(key)
	return out, nil
}

func newBody(src io.ReaderAt, size, payload int64, aead cipher.AEAD) (*Body, error) {
	encSize := size - payload
	if encSize < chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: truncated payload", ErrCorrupt)
	}
	chunks := (encSize + encChunkSize - 1) / encChunkSize
	last := encSize - (chunks-1)*encChunkSize
	if chunks > 1 && last == chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: empty last chunk", ErrCorrupt)
	}
	b := &Body{src: src, aead: aead, payload: payload, encSize: encSize, chunks: chunks,
		size: encSize - chunks*chacha20poly1305.Overhead, last: chunkPool.Get().(*[]byte), cur: -1}
	// Decrypting the last chunk authenticates the size (a truncated body
	// has no chunk flagged last).
	plain, err := b.decrypt(chunks-1, *b.last)
	if err != nil {
		b.Close()
		return nil, err
	}
	b.lastPlain = plain
	return b, nil
}

// load decrypts chunk i (not the last) into buf. mu is held.
func (b *Body) load(i int64) error {
	if b.last == nil {
		return errors.New("read of a closed body")
	}
	if b.buf == nil {
		b.buf = chunkPool.Get().(*[]byte)
	}
	plain, err := b.decrypt(i, *b.buf)
	if err != nil {
		b.cur = -1
		return err
	}
	b.cur, b.plain = i, plain
	return nil
}

// decrypt reads chunk i into buf, authenticates and decrypts it there and
// returns its plaintext.
func (b *Body) decrypt(i int64, buf []byte) ([]byte, error) {
	off := i * encChunkSize
	n := min(encChunkSize, b.encSize-off)
	enc := buf[:n]
	if m, err := b.src.ReadAt(enc, b.payload+off); int64(m) < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read chunk %d: %w", i, err)
	}
	var nonce [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(nonce[3:11], uint64(i))
	if i == b.chunks-1 {
		nonce[11] = 1
	}
	plain, err := b.aead.Open(enc[:0], nonce[:], enc, nil)
	if err != nil {
		return nil, fmt.Errorf("chunk %d: %w", i, ErrCorrupt)
	}
	if i == b.chunks-1 && i > 0 && len(plain) == 0 {
		return nil, fmt.Errorf("chunk %d: empty: %w", i, ErrCorrupt)
	}
	return plain, nil
}

// Size is the plaintext size.
func (b *Body) Size() int64 { return b.size - b.skip }

// ReadAt reads plaintext at off.
func (b *Body) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == nil {
		return 0, errors.New("read of a closed body")
	}
	abs := off + b.skip
	n := 0
	for len(p) > 0 && abs < b.size {
		i := abs / chunkSize
		plain := b.lastPlain
		if i != b.chunks-1 {
			if i != b.cur {
				if err := b.load(i); err != nil {
					return n, fmt.Errorf("read sealed body: %w", err)
				}
			}
			plain = b.plain
		}
		c := copy(p, plain[abs-i*chunkSize:])
		p, abs, n = p[c:], abs+int64(c), n+c
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

// Close gives the chunk buffers back; the Body cannot be read any more.
func (b *Body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf != nil {
		chunkPool.Put(b.buf)
		b.buf, b.plain, b.cur = nil, nil, -1
	}
	if b.last != nil {
		chunkPool.Put(b.last)
		b.last, b.lastPlain = nil, nil
	}
	return nil
}
