package imapmsg

import (
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// Message is the parsed MIME structure of one message (core/mimeparse,
// the one MIME parser of Yubin), with the IMAP views of it. It refers to
// the raw bytes given to Parse, which must not be modified afterwards; it
// is safe for concurrent use once parsed.
type Message struct {
	raw  []byte
	root *mimeparse.Part
	mp   *mimeparse.Message
}

// Parse parses a message into its structure. It never fails: malformed
// input is presented as core/mimeparse describes. raw is retained, not
// copied.
func Parse(raw []byte) *Message {
	mp := mimeparse.Parse(raw)
	return &Message{raw: raw, root: mp.Root(), mp: mp}
}

// MIME returns the message's MIME structure.
func (m *Message) MIME() *mimeparse.Message {
	return m.mp
}

// ReadHeader reads a message's top-level header block from r, as
// mimeparse.ReadHeader does. It lets SORT, THREAD and ENVELOPE read only
// the start of large messages; SortKeyOf, ThreadInfoOf and EnvelopeOf
// accept its result.
func ReadHeader(r io.Reader) ([]byte, error) {
	return mimeparse.ReadHeader(r)
}

// decodeCTE decodes body according to the normalised encoding enc. strict
// makes an unknown encoding the UNKNOWN-CTE error of RFC 3516; otherwise
// such a body is returned unchanged. The result may share memory with
// body.
func decodeCTE(enc string, body []byte, strict bool) ([]byte, error) {
	b, err := mimeparse.Decode(enc, body)
	var unknown *mimeparse.UnknownEncodingError
	if strict && errors.As(err, &unknown) {
		return nil, errUnknownCTE(enc)
	}
	return b, nil // lenient decoding of malformed content is fine for IMAP
}

// errUnknownCTE builds the RFC 3516 UNKNOWN-CTE error for enc.
func errUnknownCTE(enc string) error {
	return &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: imap.ResponseCodeUnknownCTE,
		Text: fmt.Sprintf("Unknown Content-Transfer-Encoding %q", cleanText(enc)),
	}
}
