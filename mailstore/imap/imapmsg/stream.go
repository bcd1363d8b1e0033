package imapmsg

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// copyBufPool holds buffers for streaming message bytes to the connection.
var copyBufPool = sync.Pool{New: func() any {
	b := make([]byte, 32*1024)
	return &b
}}

// maxReadSize caps how large a message is read into memory for parsing.
const maxReadSize = 1 << 31

// errSizeMismatch reports stored bytes that differ from Facts.Size.
var errSizeMismatch = errors.New("stored message size differs from its recorded size")

// streamable returns the only body item of options if it is a whole-message
// BODY[] (optionally partial) that can be streamed without parsing, or nil.
func streamable(options *imap.FetchOptions) *imap.FetchItemBodySection {
	if options.Envelope || options.BodyStructure != nil || len(options.BinarySection) > 0 ||
		len(options.BinarySectionSize) > 0 || len(options.BodySection) != 1 {
		return nil
	}
	s := options.BodySection[0]
	if len(s.Part) > 0 || s.Specifier != imap.PartSpecifierNone {
		return nil
	}
	return s
}

// sizedReader yields exactly size bytes of r: it pads a short (or failing)
// r with spaces and never reads past size.
type sizedReader struct {
	r         io.Reader
	remaining int64
	err       error // first read problem; padding starts after it
}

// Read implements io.Reader.
func (s *sizedReader) Read(p []byte) (int, error) {
	if s.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.remaining {
		p = p[:s.remaining]
	}
	if s.err == nil {
		n, err := s.r.Read(p)
		s.remaining -= int64(n)
		switch {
		case err == io.EOF && s.remaining > 0:
			s.err = fmt.Errorf("%w: %d bytes short", errSizeMismatch, s.remaining)
		case err != nil && err != io.EOF:
			s.err = fmt.Errorf("read message: %w", err)
		}
		if n > 0 || s.err == nil {
			return n, nil
		}
	}
	for i := range p {
		p[i] = ' '
	}
	s.remaining -= int64(len(p))
	return len(p), nil
}

// streamSection writes a whole-message BODY[] item by copying f.Size bytes
// from open() straight to the connection.
func streamSection(w *imapserver.FetchResponseWriter, f *Facts, open Opener, s *imap.FetchItemBodySection) error {
	size := f.Size
	if size < 0 {
		size = 0
	}
	offset, n := int64(0), size
	if p := s.Partial; p != nil {
		offset = p.Offset
		if offset < 0 || offset > size {
			offset = size
		}
		n = size - offset
		if p.Size >= 0 && p.Size < n {
			n = p.Size
		}
	}

	rc, err := open()
	if err != nil {
		return fmt.Errorf("imapmsg: open message UID %d: %w", f.UID, err)
	}
	defer rc.Close()

	sr := &sizedReader{r: rc, remaining: size}
	bufp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bufp)

	wc := w.WriteBodySection(s, n)
	var werr error
	if offset > 0 {
		_, werr = io.CopyBuffer(io.Discard, io.LimitReader(sr, offset), *bufp)
	}
	if werr == nil {
		_, werr = io.CopyBuffer(wc, io.LimitReader(sr, n), *bufp)
	}
	if cerr := wc.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("imapmsg: write message UID %d: %w", f.UID, werr)
	}
	if sr.err == nil && offset+n == size {
		// Everything was sent; make sure nothing was left behind.
		var one [1]byte
		if k, _ := io.ReadFull(rc, one[:]); k > 0 {
			sr.err = fmt.Errorf("%w: longer than %d bytes", errSizeMismatch, size)
		}
	}
	if sr.err != nil {
		return fmt.Errorf("imapmsg: message UID %d: %w", f.UID, sr.err)
	}
	return nil
}

// readMessage reads the whole message and fits it to size, padding with
// spaces or truncating. It returns nil bytes only if the message could not
// be opened; a non-nil error with non-nil bytes describes a mismatch or a
// failed read whose missing bytes were padded.
func readMessage(open Opener, size int64) ([]byte, error) {
	rc, err := open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size < 0 {
		size = 0
	}
	if size > maxReadSize {
		return nil, fmt.Errorf("message size %d exceeds %d bytes", size, maxReadSize)
	}
	sr := &sizedReader{r: rc, remaining: size}
	raw := make([]byte, size)
	if _, err := io.ReadFull(sr, raw); err != nil {
		return nil, err
	}
	if sr.err == nil {
		var one [1]byte
		if k, _ := io.ReadFull(rc, one[:]); k > 0 {
			sr.err = fmt.Errorf("%w: longer than %d bytes", errSizeMismatch, size)
		}
	}
	return raw, sr.err
}
