package imapmsg

// HasPart reports whether a part path addresses an entity of the message
// (an empty path: the message itself). IMAP URLs (RFC 5092) must name a
// part that exists, where FETCH would answer an empty one.
func (m *Message) HasPart(path []int) bool {
	return m.resolve(path) != nil
}
