package clamd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"github.com/yubinmail/yubin/core/mimetext"
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

// partWalker walks the MIME tree of a message and calls visit for each leaf
// part, in order. visit must read the part's body to the end (or return an
// error). The walker recurses into multiparts and attached messages
// (message/rfc822, message/global), at most maxPartDepth deep.
//
// It returns a *fallbackError when the structure does not parse cleanly,
// or the first error returned by visit.
//
// Transfer encodings are undone with go-message, but not charsets: go-message
// converts the charset of text parts when a charset reader is registered
// (importing go-message/charset does it, for the whole program), so the
// walker never lets it see a Content-Type; see decodeTransfer.
type partWalker struct {
	visit func(p *mimePart) error
	// leaves counts the leaf parts visited.
	leaves int
}

// walkMessage walks the message read from r: its header, then its body.
func (w *partWalker) walkMessage(r io.Reader, path []int, depth int) error {
	br := bufio.NewReader(r)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		if len(path) == 0 {
			return fallbackf("unparsable message header: %v", err)
		}
		return fallbackf("unparsable header of attached message in part %s: %v", partPath(path), err)
	}
	return w.walkEntity(h, br, path, depth, "text/plain", true)
}

// walkEntity walks an entity (a message or a part) of header h and raw
// body. defaultType is its media type when it has no Content-Type;
// messageRoot reports the entity of a message, whose body, if not
// multipart, is numbered as part 1 of it.
func (w *partWalker) walkEntity(h textproto.Header, body io.Reader, path []int, depth int, defaultType string, messageRoot bool) error {
	if depth > maxPartDepth {
		return fallbackf("MIME nesting deeper than %d levels", maxPartDepth)
	}
	where := "message"
	if len(path) > 0 {
		where = "part " + partPath(path)
	}
	// Two fields that disagree are read differently by different
	// parsers: leave it to clamd's.
	for _, k := range []string{"Content-Type", "Content-Transfer-Encoding"} {
		if n := len(h.Values(k)); n > 1 {
			return fallbackf("%d %s fields in %s", n, k, where)
		}
	}
	mediaType, params := defaultType, map[string]string(nil)
	if ct := h.Get("Content-Type"); ct != "" {
		var err error
		mediaType, params, err = mime.ParseMediaType(ct)
		if err != nil {
			return fallbackf("unparsable Content-Type in %s: %v", where, err)
		}
	}
	switch {
	case strings.HasPrefix(mediaType, "multipart/"):
		boundary := params["boundary"]
		if boundary == "" {
			return fallbackf("multipart without boundary in %s", where)
		}
		childType := "text/plain"
		if mediaType == "multipart/digest" {
			childType = "message/rfc822"
		}
		// Like go-message, ignore any transfer encoding of a multipart
		// (RFC 2045 allows none).
		mr := textproto.NewMultipartReader(body, boundary)
		for i := 1; ; i++ {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				if i == 1 {
					return fallbackf("multipart without parts in %s", where)
				}
				return nil
			}
			if err != nil {
				return fallbackf("broken multipart in %s: %v", where, err)
			}
			pr := &partReader{r: p, where: where}
			if err := w.walkEntity(p.Header, pr, appendPath(path, i), depth+1, childType, false); err != nil {
				return err
			}
		}
	case mediaType == "message/rfc822" || mediaType == "message/global":
		return w.walkMessage(decodeTransfer(h, body), path, depth+1)
	}
	if messageRoot {
		path = appendPath(path, 1)
	}
	w.leaves++
	if w.leaves > maxParts {
		return fallbackf("more than %d parts", maxParts)
	}
	return w.visit(&mimePart{
		path:      partPath(path),
		filename:  partFilename(h, params),
		mediaType: mediaType,
		body:      decodeTransfer(h, body),
	})
}

// partReader reads the raw body of a part of a multipart, reporting the end
// of the data before the multipart's closing boundary as a *fallbackError.
type partReader struct {
	r     io.Reader
	where string
}

func (r *partReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fallbackf("multipart without closing boundary in %s", r.where)
	}
	return n, err
}

// appendPath returns path with n appended, without sharing path's array.
func appendPath(path []int, n int) []int {
	return append(path[:len(path):len(path)], n)
}

// partPath formats a part number: "1", "2.1"...
func partPath(path []int) string {
	var b strings.Builder
	for i, n := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// decodeTransfer returns body with the entity's Content-Transfer-Encoding
// undone: base64 and quoted-printable are decoded, 7bit, 8bit, binary and
// unknown encodings are returned as is. The charset is never converted.
func decodeTransfer(h textproto.Header, body io.Reader) io.Reader {
	// Only the transfer encoding is given to go-message: without a
	// Content-Type it converts no charset.
	var mh message.Header
	if enc := strings.TrimSpace(h.Get("Content-Transfer-Encoding")); enc != "" {
		mh.Set("Content-Transfer-Encoding", enc)
	}
	// An unknown encoding is reported as an error, with the raw body.
	e, _ := message.New(mh, body)
	return e.Body
}

// partFilename returns the file name of a part, from its
// Content-Disposition or else the name parameter of its Content-Type
// (ctParams), for evidence: RFC 2047 encoded words decoded in any charset
// (core/mimetext), and shortened to maxFilenameLen bytes. It returns "" if
// there is none.
func partFilename(h textproto.Header, ctParams map[string]string) string {
	name := ""
	if cd := h.Get("Content-Disposition"); cd != "" {
		if _, params, err := mime.ParseMediaType(cd); err == nil {
			name = params["filename"]
		}
	}
	if name == "" {
		name = ctParams["name"]
	}
	return truncate(mimetext.DecodeHeader(name), maxFilenameLen)
}
