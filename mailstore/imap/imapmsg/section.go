package imapmsg

import (
	"fmt"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// Raw returns the bytes the message was parsed from.
func (m *Message) Raw() []byte {
	return m.raw
}

// resolve returns the entity a part path addresses, or nil. An empty path
// addresses the message itself.
func (m *Message) resolve(path []int) *mimeparse.Part {
	return m.mp.Part(path)
}

// Section returns the contents of a BODY[section]<partial> item. A section
// that does not exist is empty (RFC 9051). The result may share memory with
// the raw message and must not be modified.
func (m *Message) Section(s *imap.FetchItemBodySection) []byte {
	return applyPartial(m.section(s), s.Partial)
}

// section returns the whole (not partial) contents of a body section.
func (m *Message) section(s *imap.FetchItemBodySection) []byte {
	p := m.resolve(s.Part)
	if p == nil {
		return nil
	}
	// msg is the message whose HEADER or TEXT the specifier refers to.
	msg := p
	if len(s.Part) > 0 {
		msg = p.Embedded()
	}
	switch s.Specifier {
	case imap.PartSpecifierNone:
		if len(s.Part) == 0 {
			return p.Bytes()
		}
		return p.Body()
	case imap.PartSpecifierMIME:
		if len(s.Part) == 0 {
			return nil
		}
		return p.HeaderBytes()
	case imap.PartSpecifierHeader:
		if msg == nil {
			return nil
		}
		switch {
		case len(s.HeaderFields) > 0:
			return msg.Header().Filter(s.HeaderFields, true, msg.HeaderEnd())
		case len(s.HeaderFieldsNot) > 0:
			return msg.Header().Filter(s.HeaderFieldsNot, false, msg.HeaderEnd())
		}
		return msg.HeaderBytes()
	case imap.PartSpecifierText:
		if msg == nil {
			return nil
		}
		return msg.Body()
	}
	return nil
}

// Binary returns the contents of a BINARY[part] item: the part's body with
// its Content-Transfer-Encoding removed. An empty path gives the whole
// message unchanged. An unknown encoding gives an error wrapping an
// *imap.Error with code UNKNOWN-CTE (RFC 3516). The result may share memory
// with the raw message and must not be modified.
func (m *Message) Binary(path []int) ([]byte, error) {
	if len(path) == 0 {
		return m.raw, nil
	}
	p := m.resolve(path)
	if p == nil {
		return nil, nil
	}
	b, err := decodeCTE(p.Encoding(), p.Body(), true)
	if err != nil {
		return nil, fmt.Errorf("imapmsg: BINARY[%s]: %w", partString(path), err)
	}
	return b, nil
}

// partString formats a part path as "1.2.3".
func partString(path []int) string {
	return mimeparse.PartNumber(path)
}

// applyPartial cuts the <offset.count> range out of b. An offset at or past
// the end gives an empty result.
func applyPartial(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	n := int64(len(b))
	if p.Offset < 0 || p.Offset >= n {
		return nil
	}
	end := n
	if p.Size >= 0 && p.Size < n-p.Offset {
		end = p.Offset + p.Size
	}
	return b[p.Offset:end]
}
