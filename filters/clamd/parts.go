package clamd

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Scope is what the Filter sends to clamd for a message.
type Scope int

const (
	// ScopeMessage sends the whole raw message, header and body, as one
	// INSTREAM scan; clamd's mail parser (ScanMail) decodes it. It is the
	// zero value and the default.
	ScopeMessage Scope = iota
	// ScopeParts decodes the MIME structure of the message itself and
	// sends the decoded content of each leaf part as its own INSTREAM
	// scan, so that clamd skips its mail parser: much cheaper for clamd
	// (about a third of the CPU for a small text message).
	//
	// The header of the message is not sent, nor the preamble and
	// epilogue of multiparts. ClamAV signatures that target whole mail
	// files (target type 4) therefore do not apply in this scope, which
	// is why ScopeMessage stays the default. Messages whose MIME
	// structure does not parse cleanly are scanned whole, as with
	// ScopeMessage: see Filter.Scope.
	ScopeParts
	// ScopeAuto scans a message whose leaf parts are all text/plain as
	// ScopeParts does (their decoded text), and any other message whole,
	// as ScopeMessage does. Plain text gives clamd's mail parser nothing
	// to unpack, and it is most mail; attachments, HTML and broken MIME
	// still get clamd's own decoding of the whole message. It is what the
	// server uses unless configured otherwise (YUBIN_CLAMD_SCAN).
	ScopeAuto
)

// String returns "message" or "parts", the names ParseScope accepts.
func (s Scope) String() string {
	switch s {
	case ScopeMessage:
		return "message"
	case ScopeParts:
		return "parts"
	case ScopeAuto:
		return "auto"
	}
	return "Scope(" + strconv.Itoa(int(s)) + ")"
}

// ParseScope parses a scan scope as written in the configuration:
// "message" (ScopeMessage), "parts" (ScopeParts) or "auto" (ScopeAuto), in
// any case.
func ParseScope(s string) (Scope, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "message":
		return ScopeMessage, nil
	case "parts":
		return ScopeParts, nil
	case "auto":
		return ScopeAuto, nil
	}
	return 0, fmt.Errorf("clamd: invalid scan scope %q (want \"message\", \"parts\" or \"auto\")", s)
}

const (
	// maxPartDepth bounds the nesting of multiparts and attached
	// messages walked in ScopeParts; deeper messages are scanned whole.
	maxPartDepth = 10
	// maxParts bounds the number of leaf parts scanned one by one in
	// ScopeParts; messages with more are scanned whole.
	maxParts = 16
	// maxFilenameLen bounds the file names quoted in evidence.
	maxFilenameLen = 100
)

// mimePart is a leaf part of a message, as walked for ScopeParts.
type mimePart struct {
	// path is the part's number in the IMAP style: "1", "2.1"...
	path string
	// filename is the name given in the part's Content-Disposition or
	// Content-Type, "" if none.
	filename string
	// mediaType is the part's media type, lower case ("text/plain").
	mediaType string
	// body is the decoded content of the part.
	body io.Reader
}

// describe returns the part's number and file name for evidence.
func (p *mimePart) describe() string {
	if p.filename == "" {
		return "part " + p.path
	}
	return fmt.Sprintf("part %s %q", p.path, p.filename)
}

// fallbackError reports a MIME structure that partWalker does not parse
// cleanly, for which the whole message is scanned instead.
type fallbackError struct{ reason string }

func (e *fallbackError) Error() string { return e.reason }

// maxReasonLen bounds the length of a fallback reason.
const maxReasonLen = 200

// fallbackf returns a *fallbackError. The reason, which may quote the
// message, is made fit for evidence and logs: one line of valid UTF-8
// without control characters, at most about maxReasonLen bytes.
func fallbackf(format string, args ...any) error {
	reason := strings.TrimSpace(fmt.Sprintf(format, args...))
	reason = strings.ToValidUTF8(reason, "\ufffd")
	reason = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, reason)
	return &fallbackError{reason: truncate(reason, maxReasonLen)}
}

// truncate shortens s to at most n bytes, without cutting a rune, and marks
// the cut with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// appendPath returns path with n appended, without sharing path's array.
func appendPath(path []int, n int) []int {
	return append(path[:len(path):len(path)], n)
}
