package mimeparse

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

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
	br := bufio.NewReaderSize(io.LimitReader(r, MaxHeaderBytes), 4096)
	var out []byte
	lineStart := 0
	for {
		chunk, err := br.ReadSlice('\n')
		out = append(out, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // a long line: read the rest of it
		}
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, fmt.Errorf("mimeparse: read header: %w", err)
		}
		if len(trimEOL(out[lineStart:])) == 0 {
			return out, nil
		}
		lineStart = len(out)
	}
}
