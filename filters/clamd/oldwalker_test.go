package clamd

// The go-message walker ScopeParts used before core/mimeparse, kept for
// the differential test only.

import (
	"bufio"
	"errors"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"github.com/yubinmail/yubin/core/mimetext"
)

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
		filename:  partFilenameOld(h, params),
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
func partFilenameOld(h textproto.Header, ctParams map[string]string) string {
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
