package mimeparse

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
)

// headerReaders keeps the buffered readers of ReadHeaderBlock between
// calls: every message that comes in has its header read a few times.
var headerReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// MaxHeaderBytes caps how much ReadHeader reads. A longer header is cut
// there; the fields before the cut still count.
const MaxHeaderBytes = 1 << 20

// ReadHeader reads a message's top-level header block from r: the lines up
// to and including the empty line that ends it, or the whole message if it
// has none, at most MaxHeaderBytes; ParseHeader of the result gives the
// fields Parse finds in the whole message (for headers within the limit). It lets SORT, THREAD and ENVELOPE read only the start of
// large messages. A message without a body is returned whole; only read
// errors other than io.EOF are returned.
func ReadHeader(r io.Reader) ([]byte, error) {
	block, _, err := ReadHeaderBlock(r, MaxHeaderBytes)
	return block, err
}

// ReadHeaderBlock reads a message's top-level header block from r as
// ReadHeader does, at most limit bytes. complete reports that the block
// ended (with its empty line, or with the input) within limit.
func ReadHeaderBlock(r io.Reader, limit int) (block []byte, complete bool, err error) {
	br := headerReaders.Get().(*bufio.Reader)
	br.Reset(io.LimitReader(r, int64(limit)+1))
	defer func() {
		br.Reset(nil) // keeps nothing of r
		headerReaders.Put(br)
	}()
	var out []byte
	lineStart := 0
	cut := func(done bool) ([]byte, bool) {
		if len(out) > limit {
			return out[:limit], false
		}
		return out, done
	}
	for {
		chunk, err := br.ReadSlice('\n')
		out = append(out, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // a long line: read the rest of it
		}
		if err != nil {
			if err == io.EOF {
				b, done := cut(true)
				return b, done, nil
			}
			b, _ := cut(false)
			return b, false, fmt.Errorf("mimeparse: read header: %w", err)
		}
		if len(trimEOL(out[lineStart:])) == 0 {
			b, done := cut(true)
			return b, done, nil
		}
		lineStart = len(out)
	}
}
