package pop3server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// errLineTooLong is returned by readLine for a line that does not fit the
// reader's buffer; the line has been discarded up to and including its LF.
var errLineTooLong = errors.New("line too long")

// newLineReader returns a reader for lines of at most maxLine bytes, not
// counting the CRLF.
func newLineReader(r io.Reader, maxLine int) *bufio.Reader {
	return bufio.NewReaderSize(r, maxLine+2)
}

// readLine reads one line and returns it without its line ending (CRLF, or
// a bare LF). The slice is valid until the next read from br. An
// unterminated line at the end of the input is an error.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		if err != nil {
			return nil, err
		}
		return nil, errLineTooLong
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	return bytes.TrimSuffix(line, []byte("\r")), nil
}
