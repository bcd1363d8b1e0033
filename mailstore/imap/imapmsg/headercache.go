package imapmsg

import (
	"bytes"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// The header cache: the top-level header fields that ENVELOPE, SORT,
// THREAD and the SEARCH keys FROM, TO, CC, BCC, SUBJECT, SENT* and HEADER
// of these names read, cut out of a message's header block once (when it
// is stored) so that those answers need not open the message again.
//
// The cached header is the fields' own bytes, in their order, duplicates
// included, followed by an empty line: a header block that the functions
// of this package (Parse, EnvelopeOf, SortKeyOf, ThreadInfoOf, Match) read
// exactly as they read the whole message, for the fields it holds. So the
// answers from the cache are the answers from the message by construction,
// and a change to how a field is interpreted needs no new cache.

// CachedHeaderFields are the header fields a cached header keeps.
var CachedHeaderFields = []string{
	"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"Message-Id", "In-Reply-To", "References",
}

// CachedHeader returns the cached header of a message (see
// CachedHeaderFields) from the first bytes of the message, raw; whole says
// whether raw is the whole message. ok is false when raw ends before the
// message's header block is known to end: the header is longer than raw,
// or longer than ReadHeader reads (mimeparse.MaxHeaderBytes), whose cut the
// answers from the cache could not reproduce.
func CachedHeader(raw []byte, whole bool) (cached []byte, ok bool) {
	if len(raw) > mimeparse.MaxHeaderBytes {
		raw, whole = raw[:mimeparse.MaxHeaderBytes], false
	}
	block, _, err := mimeparse.ReadHeaderBlock(bytes.NewReader(raw), len(raw))
	if err != nil {
		return nil, false
	}
	if !whole && len(block) == len(raw) && !endsWithEmptyLine(block) {
		// The header may go on beyond raw: the empty line that ends it
		// must be among the bytes given.
		return nil, false
	}
	h := mimeparse.ParseHeader(block)
	return h.Filter(CachedHeaderFields, true, []byte("\r\n")), true
}

// endsWithEmptyLine reports whether b ends with an empty line (LF or CRLF),
// the line that ends a header block.
func endsWithEmptyLine(b []byte) bool {
	return bytes.Equal(b, []byte("\n")) || bytes.Equal(b, []byte("\r\n")) ||
		bytes.HasSuffix(b, []byte("\n\n")) || bytes.HasSuffix(b, []byte("\n\r\n"))
}

// SearchCoveredByCachedHeader reports whether every key of c can be
// decided on the message's metadata and its cached header: no BODY or
// TEXT key, and HEADER keys (FROM, TO, ... included) only of cached
// fields.
func SearchCoveredByCachedHeader(c *imap.SearchCriteria) bool {
	if len(c.Body) > 0 || len(c.Text) > 0 {
		return false
	}
	for _, hf := range c.Header {
		if !isCachedField(hf.Key) {
			return false
		}
	}
	for i := range c.Not {
		if !SearchCoveredByCachedHeader(&c.Not[i]) {
			return false
		}
	}
	for i := range c.Or {
		if !SearchCoveredByCachedHeader(&c.Or[i][0]) || !SearchCoveredByCachedHeader(&c.Or[i][1]) {
			return false
		}
	}
	return true
}

// isCachedField reports whether the named field is one of
// CachedHeaderFields.
func isCachedField(name string) bool {
	for _, f := range CachedHeaderFields {
		// ASCII case only, as field names are compared (equalFoldASCII).
		if mimeparse.EqualFoldASCII([]byte(name), f) {
			return true
		}
	}
	return false
}
