package imapmsg

import (
	"bytes"
	"errors"

	"github.com/emersion/go-imap/v2"
)

// BinaryPart is the answer to one BINARY[section]<partial> FETCH item
// (RFC 3516 §4, RFC 9051 §6.4.5).
type BinaryPart struct {
	// Data is the decoded content, cut to the partial range if one was
	// asked for. It may share memory with the message; do not modify it.
	Data []byte
	// Partial is set when a <origin.length> range was asked for; the
	// response must then name the origin: BINARY[1]<Origin>.
	Partial bool
	Origin  int64
	// Size is the decoded size of the whole section, what BINARY.SIZE
	// reports.
	Size int64
	// HasNUL reports a NUL octet in Data: the server must then send it as
	// a literal8 ("~{n}"), never as a quoted string or plain literal.
	HasNUL bool
}

// BinaryPart returns the answer to a BINARY[path]<partial> item (RFC 3516
// §4): the section's content with its Content-Transfer-Encoding removed,
// the partial range applied to the decoded bytes (an origin past the end
// gives no data), the decoded size, and whether NUL occurs. An empty path
// is the whole message unchanged; a part that does not exist is empty. A
// transfer encoding the server does not know is an error wrapping an
// *imap.Error "NO [UNKNOWN-CTE]" (see IsUnknownCTE), which the server
// returns as the command's tagged response.
func (m *Message) BinaryPart(path []int, partial *imap.SectionPartial) (BinaryPart, error) {
	b, err := m.Binary(path)
	if err != nil {
		return BinaryPart{}, err
	}
	bp := BinaryPart{Size: int64(len(b))}
	if partial != nil {
		bp.Partial, bp.Origin = true, partial.Offset
		b = applyPartial(b, partial)
	}
	bp.Data = b
	bp.HasNUL = bytes.IndexByte(b, 0) >= 0
	return bp, nil
}

// BinarySize returns the BINARY.SIZE of a section (RFC 3516 §4): the
// size of its decoded content. Errors are those of BinaryPart.
func (m *Message) BinarySize(path []int) (int64, error) {
	b, err := m.Binary(path)
	if err != nil {
		return 0, err
	}
	return int64(len(b)), nil
}

// IsUnknownCTE reports whether err is the UNKNOWN-CTE error of RFC 3516
// (a BINARY item whose transfer encoding the server cannot decode).
func IsUnknownCTE(err error) bool {
	var imapErr *imap.Error
	return errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeUnknownCTE
}
