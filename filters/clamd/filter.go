package clamd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"sync"

	"github.com/emersion/go-message/textproto"

	"github.com/yubinmail/yubin/filters"
)

// Filter is a filters.Filter that scans every message with clamd and rejects
// infected ones with 554 5.7.1.
//
// When clamd cannot be reached or fails, Check returns the error and the
// chain's failure policy for the stage decides (by default a 451 tempfail,
// so that no message is lost or let through unscanned).
type Filter struct {
	// Client is the clamd to ask.
	Client *Client
	// MaxSize, if positive, skips scanning messages larger than this many
	// bytes (they are accepted with "skipped" evidence). Set it to clamd's
	// StreamMaxLength to avoid tempfailing large messages forever; 0 scans
	// everything. It applies to the size of the whole raw message, in
	// every Scope.
	MaxSize int64
	// Scope is what is sent to clamd: the whole raw message
	// (ScopeMessage, the zero value), the decoded content of each MIME
	// part (ScopeParts), or the latter for messages that are only plain
	// text and the former for any other (ScopeAuto, the server's default).
	//
	// With ScopeParts, the parts are scanned one after the other on
	// Client, stopping at the first infected one. The message's header
	// is not scanned, so ClamAV signatures for whole mail files (target
	// type 4) do not apply; that is why ScopeMessage is the default. A
	// message is scanned whole, exactly as with ScopeMessage, when its
	// MIME structure does not parse cleanly: an unparsable header or
	// Content-Type, duplicate Content-Type or Content-Transfer-Encoding
	// fields, a multipart without boundary, parts or closing boundary,
	// a transfer encoding that does not decode, nesting deeper than 10
	// levels, or more than 16 leaf parts. clamd's own parser then
	// decides, so broken or hostile MIME never gets less scanning. With
	// ScopeAuto such messages, and any with a part other than text/plain,
	// are scanned whole without further ado.
	Scope Scope
}

var _ filters.Filter = (*Filter)(nil)

// NewFilter returns a Filter that asks c.
func NewFilter(c *Client) *Filter {
	return &Filter{Client: c}
}

// Name returns "clamd".
func (f *Filter) Name() string { return "clamd" }

// Check scans msg.
func (f *Filter) Check(ctx context.Context, msg *filters.Message) (filters.Verdict, error) {
	if f.MaxSize > 0 && msg.Size > f.MaxSize {
		return filters.Verdict{Evidence: []filters.Evidence{{
			Filter: f.Name(),
			Result: "skipped",
			Detail: fmt.Sprintf("message of %d bytes is larger than the scan limit of %d bytes", msg.Size, f.MaxSize),
		}}}, nil
	}
	if f.Scope == ScopeParts || f.Scope == ScopeAuto {
		return f.checkParts(ctx, msg)
	}
	return f.checkWhole(ctx, msg, "")
}

// checkWhole scans the whole raw message. fallback is why a message is
// scanned whole in ScopeParts, "" in ScopeMessage.
func (f *Filter) checkWhole(ctx context.Context, msg *filters.Message, fallback string) (filters.Verdict, error) {
	res, err := f.Client.Scan(ctx, msg.Open())
	if err != nil {
		return filters.Verdict{}, err
	}
	where := ""
	if fallback != "" {
		where = "whole message (fallback: " + fallback + ")"
	}
	if !res.Infected {
		return filters.Verdict{Evidence: []filters.Evidence{{
			Filter: f.Name(), Result: "clean", Detail: where,
		}}}, nil
	}
	detail := res.Signature
	if where != "" {
		detail += " in " + where
	}
	return f.infected(res.Signature, detail), nil
}

// infected returns the verdict on a message in which clamd found sig.
func (f *Filter) infected(sig, detail string) filters.Verdict {
	return filters.Verdict{
		Action:       filters.Reject,
		Code:         554,
		EnhancedCode: [3]int{5, 7, 1},
		Reason:       fmt.Sprintf("message contains a virus (%s)", sig),
		Evidence: []filters.Evidence{{
			Filter: f.Name(),
			Result: "infected",
			Detail: detail,
		}},
	}
}

// singlePart looks at the header of msg for the common case of a message
// that is one part whose body needs no decoding (no transfer encoding, or
// 7bit, 8bit or binary): it returns the part and its body, ready to scan
// (done, when not nil, gives the body's reader back once the scan is
// over). whole reports a message that ScopeAuto scans whole without
// looking further (one part that is not plain text). Anything else
// (multiparts, attached messages, encoded bodies, headers that do not
// parse or repeat Content-Type or Content-Transfer-Encoding) returns
// neither, for the part walker.
//
// The header parsed by the MTA (msg.OriginalHeader) is used when the raw
// header has exactly its number of fields, so that it is known to be the
// whole header; it is parsed again otherwise.
func (f *Filter) singlePart(msg *filters.Message) (part *mimePart, body io.Reader, done func(), whole bool) {
	h := msg.OriginalHeader()
	var br *bufio.Reader
	if h.Len() > 0 {
		br = bodyReaders.Get().(*bufio.Reader)
		br.Reset(msg.Open())
		done = func() { br.Reset(nil); bodyReaders.Put(br) }
		if n, ok := skipHeader(br); !ok || n != h.Len() {
			done()
			br, done = nil, nil
		}
	}
	if br == nil {
		br = bufio.NewReader(msg.Open())
		var err error
		if h, err = textproto.ReadHeader(br); err != nil {
			return nil, nil, nil, false
		}
	}
	giveUp := func(whole bool) (*mimePart, io.Reader, func(), bool) {
		if done != nil {
			done()
		}
		return nil, nil, nil, whole
	}
	if len(h.Values("Content-Type")) > 1 || len(h.Values("Content-Transfer-Encoding")) > 1 {
		return giveUp(false)
	}
	mediaType, params := "text/plain", map[string]string(nil)
	if ct := h.Get("Content-Type"); ct != "" {
		var err error
		if mediaType, params, err = mime.ParseMediaType(ct); err != nil {
			return giveUp(false)
		}
	}
	if strings.HasPrefix(mediaType, "multipart/") || strings.HasPrefix(mediaType, "message/") {
		return giveUp(false)
	}
	if f.Scope == ScopeAuto && mediaType != "text/plain" {
		return giveUp(true)
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "", "7bit", "8bit", "binary":
		return &mimePart{path: "1", filename: partFilename(h, params), mediaType: mediaType}, br, done, false
	}
	return giveUp(false)
}

// bodyReaders are the readers of singlePart.
var bodyReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// skipHeader reads past the header in br as textproto.ReadHeader reads it,
// and returns its number of fields. ok is false where ReadHeader would
// fail: a first line that continues nothing, or a line that is neither a
// field nor a continuation. The end of the input ends the header too.
func skipHeader(br *bufio.Reader) (fields int, ok bool) {
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) { // a line longer than the buffer
			_, err = br.ReadSlice('\n')
		}
		if len(line) == 0 {
			return fields, err == nil || errors.Is(err, io.EOF)
		}
		switch {
		case line[0] == '\n' || line[0] == '\r' && len(line) == 2 && line[1] == '\n':
			return fields, true // the blank line
		case line[0] == ' ' || line[0] == '\t':
			if first {
				return fields, false
			}
		case bytes.IndexByte(line, ':') <= 0:
			return fields, false
		default:
			fields++
		}
		if err != nil {
			return fields, errors.Is(err, io.EOF)
		}
	}
}

// errStopWalk stops the part walk at an infected part.
var errStopWalk = errors.New("infected part found")

// errNotPlain stops the checking walk of ScopeAuto at a part that is not
// plain text: the message is scanned whole.
var errNotPlain = errors.New("not only plain text")

// checkParts scans each leaf part of msg on its own, or the whole message
// when its MIME structure does not parse cleanly.
//
// The message is read twice, streaming: first to check its structure and
// count its parts (decoding them, so that a transfer encoding that does not
// decode is found before anything is sent), then to send the parts.
func (f *Filter) checkParts(ctx context.Context, msg *filters.Message) (filters.Verdict, error) {
	switch single, body, done, whole := f.singlePart(msg); {
	case whole:
		return f.checkWhole(ctx, msg, "")
	case body != nil:
		// Most mail: one part, no transfer encoding that could fail to
		// decode, so there is nothing to check before sending it.
		r, err := f.Client.Scan(ctx, body)
		if done != nil {
			done()
		}
		if err != nil {
			return filters.Verdict{}, fmt.Errorf("scanning MIME part 1: %w", err)
		}
		if r.Infected {
			return f.infected(r.Signature, r.Signature+" in "+single.describe()), nil
		}
		return filters.Verdict{Evidence: []filters.Evidence{{Filter: f.Name(), Result: "clean", Detail: "1 part scanned"}}}, nil
	}
	check := partWalker{visit: func(p *mimePart) error {
		if f.Scope == ScopeAuto && p.mediaType != "text/plain" {
			return errNotPlain
		}
		if _, err := io.Copy(io.Discard, p.body); err != nil {
			var fb *fallbackError
			if errors.As(err, &fb) {
				return fb
			}
			return fallbackf("cannot decode part %s: %v", p.path, err)
		}
		return nil
	}}
	if err := check.walkMessage(msg.Open(), nil, 0); err != nil {
		if errors.Is(err, errNotPlain) {
			return f.checkWhole(ctx, msg, "")
		}
		var fb *fallbackError
		if errors.As(err, &fb) {
			if f.Scope == ScopeAuto {
				return f.checkWhole(ctx, msg, "")
			}
			return f.checkWhole(ctx, msg, fb.reason)
		}
		return filters.Verdict{}, fmt.Errorf("clamd: reading message: %w", err)
	}

	var (
		scanned int
		res     Result
		found   *mimePart
	)
	scan := partWalker{visit: func(p *mimePart) error {
		r, err := f.Client.Scan(ctx, p.body)
		if err != nil {
			return fmt.Errorf("scanning MIME part %s: %w", p.path, err)
		}
		scanned++
		if r.Infected {
			res, found = r, p
			return errStopWalk
		}
		return nil
	}}
	err := scan.walkMessage(msg.Open(), nil, 0)
	if found != nil {
		return f.infected(res.Signature, res.Signature+" in "+found.describe()), nil
	}
	if err != nil {
		var fb *fallbackError
		if errors.As(err, &fb) {
			// The message read differently the second time.
			return filters.Verdict{}, fmt.Errorf("clamd: MIME structure changed while scanning parts: %w", err)
		}
		return filters.Verdict{}, err
	}
	unit := "parts"
	if scanned == 1 {
		unit = "part"
	}
	return filters.Verdict{Evidence: []filters.Evidence{{
		Filter: f.Name(),
		Result: "clean",
		Detail: fmt.Sprintf("%d %s scanned", scanned, unit),
	}}}, nil
}
