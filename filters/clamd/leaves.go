package clamd

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/yubinmail/yubin/core/mimeparse"
	"github.com/yubinmail/yubin/core/mimetext"
)

// maxPartsMessageBytes is the largest message ScopeParts reads into memory
// to split into parts; a larger one is scanned whole.
const maxPartsMessageBytes = 64 << 20

// leafParts splits raw into the leaf parts ScopeParts scans one by one,
// with core/mimeparse, the parser the IMAP server presents the message
// with: the virus scanner sees the parts the reader's client shows. It
// returns a *fallbackError, for a scan of the whole message, when the
// message is not read the same way by every parser (any anomaly
// mimeparse records, or base64 or quoted-printable content that decodes
// only leniently), when it nests deeper than maxPartDepth or has more than
// maxParts leaf parts.
func leafParts(raw []byte) ([]*mimePart, error) {
	m := mimeparse.Parse(raw)
	if a := m.Anomalies(); len(a) > 0 {
		return nil, fallbackf("%s", a[0])
	}
	var leaves []*mimePart
	var walk func(p *mimeparse.Part, path []int, depth int, messageRoot bool) error
	walk = func(p *mimeparse.Part, path []int, depth int, messageRoot bool) error {
		if depth > maxPartDepth {
			return fallbackf("MIME nesting deeper than %d levels", maxPartDepth)
		}
		switch {
		case p.IsMultipart():
			for i, c := range p.Children() {
				if err := walk(c, appendPath(path, i+1), depth+1, false); err != nil {
					return err
				}
			}
			return nil
		case p.Embedded() != nil:
			return walk(p.Embedded(), path, depth+1, true)
		}
		if messageRoot {
			path = appendPath(path, 1)
		}
		if len(leaves) == maxParts {
			return fallbackf("more than %d parts", maxParts)
		}
		body, err := p.Decoded()
		if err != nil {
			return fallbackf("cannot decode part %s: %v", mimeparse.PartNumber(path), decodeReason(err))
		}
		leaves = append(leaves, &mimePart{
			path:      mimeparse.PartNumber(path),
			filename:  partFilename(p),
			mediaType: p.MediaType(),
			body:      bytes.NewReader(body),
		})
		return nil
	}
	if err := walk(m.Root(), nil, 0, true); err != nil {
		return nil, err
	}
	return leaves, nil
}

// decodeReason words a decoding error of mimeparse for evidence.
func decodeReason(err error) string {
	var malformed *mimeparse.MalformedEncodingError
	if errors.As(err, &malformed) {
		return "malformed " + malformed.Encoding + " content"
	}
	return err.Error()
}

// readMessage reads the raw message for leafParts, or reports that it is
// too large to split.
func readMessage(r io.Reader, size int64) ([]byte, error) {
	if size > maxPartsMessageBytes {
		return nil, fallbackf("message larger than %d bytes", maxPartsMessageBytes)
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(size, 0)+1))
	n, err := buf.ReadFrom(io.LimitReader(r, maxPartsMessageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("clamd: reading message: %w", err)
	}
	if n > maxPartsMessageBytes {
		return nil, fallbackf("message larger than %d bytes", maxPartsMessageBytes)
	}
	return buf.Bytes(), nil
}

// partFilename returns the file name of a part, from its
// Content-Disposition or else the name parameter of its Content-Type, for
// evidence: RFC 2047 encoded words decoded in any charset (core/mimetext),
// and shortened to maxFilenameLen bytes. It returns "" if there is none.
func partFilename(p *mimeparse.Part) string {
	return truncate(mimetext.DecodeHeader(p.Filename()), maxFilenameLen)
}
