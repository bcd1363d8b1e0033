package imapmsg

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// Facts is what the mailstore knows about a message without reading it.
type Facts struct {
	SeqNum       uint32 // sequence number as the client sees it
	UID          imap.UID
	Flags        []imap.Flag
	InternalDate time.Time
	Size         int64  // exact byte size of the stored message
	ModSeq       uint64 // CONDSTORE modification sequence
	ForceFlags   bool   // write FLAGS even if not asked (\Seen was just set by a FETCH)
}

// Opener opens the message's stored bytes (CRLF line endings in practice,
// but bare LF is handled too).
type Opener func() (io.ReadCloser, error)

// NeedsBody reports whether options need the message's bytes (anything
// beyond UID, FLAGS, INTERNALDATE, RFC822.SIZE and MODSEQ).
func NeedsBody(options *imap.FetchOptions) bool {
	return options.Envelope || options.BodyStructure != nil ||
		len(options.BodySection) > 0 || len(options.BinarySection) > 0 ||
		len(options.BinarySectionSize) > 0
}

// MarksSeen reports whether options contain a non-PEEK body or binary
// section, which sets \Seen (RFC 9051 §6.4.5).
func MarksSeen(options *imap.FetchOptions) bool {
	for _, s := range options.BodySection {
		if !s.Peek {
			return true
		}
	}
	for _, s := range options.BinarySection {
		if !s.Peek {
			return true
		}
	}
	return false
}

// Fetch writes the items options asks for about one message to w and closes
// w. open is called at most once, and only if needed. Fetch always closes w
// and keeps the protocol stream well-formed: if the message cannot be read,
// the items that need it are left out; if it is shorter or longer than
// f.Size, body data is padded with spaces or truncated to f.Size. Such
// problems are returned after w is closed. An unknown transfer encoding in a
// BINARY item leaves that item out and returns an error wrapping an
// *imap.Error with code UNKNOWN-CTE.
//
// MODSEQ cannot be written: go-imap v2.0.0-beta.8's FetchResponseWriter has
// no method for it, so options.ModSeq is ignored.
func Fetch(w *imapserver.FetchResponseWriter, f *Facts, open Opener, options *imap.FetchOptions) error {
	if options.UID {
		w.WriteUID(f.UID)
	}
	if options.Flags || f.ForceFlags {
		w.WriteFlags(f.Flags)
	}
	if options.InternalDate {
		w.WriteInternalDate(f.InternalDate)
	}
	if options.RFC822Size {
		w.WriteRFC822Size(f.Size)
	}
	if !NeedsBody(options) {
		return closeWriter(w, nil)
	}
	if s := streamable(options); s != nil {
		return closeWriter(w, streamSection(w, f, open, s))
	}

	raw, err := readMessage(open, f.Size)
	if raw == nil {
		return closeWriter(w, fmt.Errorf("imapmsg: read message UID %d: %w", f.UID, err))
	}
	errs := []error{err}
	m := Parse(raw)
	if options.Envelope {
		w.WriteEnvelope(m.Envelope())
	}
	if options.BodyStructure != nil {
		// go-imap writes BODY and/or BODYSTRUCTURE as the client asked; it
		// needs extension data whenever BODYSTRUCTURE was asked for.
		w.WriteBodyStructure(m.BodyStructure(true))
	}
	for _, s := range options.BodySection {
		b := m.Section(s)
		if err := writeLiteral(w.WriteBodySection(s, int64(len(b))), b); err != nil {
			return closeWriter(w, errors.Join(append(errs, err)...))
		}
	}
	for _, s := range options.BinarySection {
		b, err := m.Binary(s.Part)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b = applyPartial(b, s.Partial)
		if err := writeLiteral(w.WriteBinarySection(s, int64(len(b))), b); err != nil {
			return closeWriter(w, errors.Join(append(errs, err)...))
		}
	}
	for _, s := range options.BinarySectionSize {
		b, err := m.Binary(s.Part)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		w.WriteBinarySectionSize(s, clampUint32(len(b)))
	}
	return closeWriter(w, errors.Join(errs...))
}

// writeLiteral writes b to a literal writer and closes it.
func writeLiteral(wc io.WriteCloser, b []byte) error {
	_, err := wc.Write(b)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("imapmsg: write literal: %w", err)
	}
	return nil
}

// closeWriter closes w and returns err, or the close error if err is nil.
func closeWriter(w *imapserver.FetchResponseWriter, err error) error {
	if cerr := w.Close(); cerr != nil {
		cerr = fmt.Errorf("imapmsg: close FETCH response: %w", cerr)
		if err == nil {
			return cerr
		}
		return errors.Join(err, cerr)
	}
	return err
}
