package mimeparse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxHeaderBytes caps how much ReadHeader reads. A longer header is cut
// there; the fields before the cut still count.
const MaxHeaderBytes = 1 << 20

// ReadHeader reads a message's top-level header block from r: the lines up
// to and including the empty line that ends it, or up to the first line
// that is neither a field nor a continuation (where the body starts
// without a separator), at most MaxHeaderBytes. It lets SORT, THREAD and
// ENVELOPE read only the start of large messages; SortKeyOf, ThreadInfoOf
// and EnvelopeOf accept its result. A message without a body is returned
// whole; only read errors other than io.EOF are returned.
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
		content := trimEOL(out[lineStart:])
		if len(content) == 0 {
			return out, nil
		}
		if content[0] != ' ' && content[0] != '\t' {
			if _, _, ok := fieldName(content); !ok && !(lineStart == 0 && bytes.HasPrefix(content, []byte("From "))) {
				return out, nil
			}
		}
		lineStart = len(out)
	}
}
