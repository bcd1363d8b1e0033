package mimeparse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// This file checks mimeparse against go-message, a strict parser that
// follows the RFCs: a message on which mimeparse records no anomaly (and
// whose encoded parts decode cleanly) must split into the same leaf parts,
// with the same decoded content, in both. It is the differential test that
// replaced the walkers of the spam filter and the virus scanner (both built
// on go-message) by mimeparse; their disagreements became anomalies or
// rules (see the package documentation).

// refLeaves lists the leaf parts go-message finds: "path type body" lines,
// or an error where it gives up.
func refLeaves(raw []byte) (string, error) {
	var b strings.Builder
	var walkMessage func(r io.Reader, path []int, depth int) error
	var walkEntity func(h textproto.Header, body io.Reader, path []int, depth int, defaultType string, root bool) error
	walkMessage = func(r io.Reader, path []int, depth int) error {
		br := bufio.NewReader(r)
		h, err := textproto.ReadHeader(br)
		if err != nil {
			return err
		}
		return walkEntity(h, br, path, depth, "text/plain", true)
	}
	walkEntity = func(h textproto.Header, body io.Reader, path []int, depth int, defaultType string, root bool) error {
		if depth > MaxDepth+5 { // past mimeparse's bound, which makes an anomaly
			return errors.New("too deep")
		}
		mediaType, params := defaultType, map[string]string(nil)
		if ct := h.Get("Content-Type"); ct != "" {
			var err error
			if mediaType, params, err = mime.ParseMediaType(ct); err != nil {
				return err
			}
		}
		switch {
		case strings.HasPrefix(mediaType, "multipart/"):
			child := "text/plain"
			if mediaType == "multipart/digest" {
				child = "message/rfc822"
			}
			mr := textproto.NewMultipartReader(body, params["boundary"])
			for i := 1; ; i++ {
				p, err := mr.NextPart()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				if err := walkEntity(p.Header, p, append(path[:len(path):len(path)], i), depth+1, child, false); err != nil {
					return err
				}
			}
		case mediaType == "message/rfc822" || mediaType == "message/global":
			return walkMessage(body, path, depth+1)
		}
		if root {
			path = append(path[:len(path):len(path)], 1)
		}
		var mh message.Header
		if enc := h.Get("Content-Transfer-Encoding"); enc != "" {
			mh.Set("Content-Transfer-Encoding", enc)
		}
		e, _ := message.New(mh, body)
		data, err := io.ReadAll(e.Body)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %s %q\n", PartNumber(path), mediaType, data)
		return nil
	}
	err := walkMessage(bytes.NewReader(raw), nil, 0)
	return b.String(), err
}

// leaves lists the leaf parts mimeparse finds, as refLeaves does, and
// reports whether the message is clean: no anomaly, every encoded part
// decoding without leniency.
func leaves(raw []byte) (string, bool) {
	m := Parse(raw)
	clean := len(m.Anomalies()) == 0
	var b strings.Builder
	var walk func(p *Part, path []int, root bool)
	walk = func(p *Part, path []int, root bool) {
		switch {
		case p.IsMultipart():
			for i, c := range p.Children() {
				walk(c, append(path[:len(path):len(path)], i+1), false)
			}
			return
		case p.Embedded() != nil:
			walk(p.Embedded(), path, true)
			return
		}
		if root {
			path = append(path[:len(path):len(path)], 1)
		}
		data, err := p.Decoded()
		if err != nil {
			clean = false
		}
		fmt.Fprintf(&b, "%s %s %q\n", PartNumber(path), p.MediaType(), data)
	}
	walk(m.Root(), nil, true)
	return b.String(), clean
}

// compareWithReference fails when mimeparse calls raw clean but go-message
// reads it differently.
func compareWithReference(t *testing.T, raw []byte) {
	if !bytes.Contains(raw, []byte("\n")) || bytes.HasSuffix(raw, []byte("\r")) {
		return // one line, or a lone CR at the end, which go-message does not take for a line end
	}
	got, clean := leaves(raw)
	if !clean {
		return // another parser may read it differently: callers that must not guess look at it whole
	}
	want, err := refLeaves(raw)
	// go-message takes the line break before every delimiter to be the
	// one before the first (a CR before an LF delimiter stays in the
	// part); mimeparse takes CRLF or LF before each.
	norm := func(s string) string { return strings.ReplaceAll(s, `\r\n`, `\n`) }
	if err != nil || norm(got) != norm(want) {
		t.Fatalf("clean message read differently:\nmimeparse: %s\ngo-message: %s (%v)\nmessage: %q", got, want, err, raw)
	}
}

func TestCorpusAgainstReference(t *testing.T) {
	for _, c := range loadCorpus(t) {
		t.Run(c.name, func(t *testing.T) { compareWithReference(t, c.raw) })
	}
}

// FuzzAgainstReference is the differential fuzz test of mimeparse against
// go-message; the seed corpus runs as an ordinary test.
func FuzzAgainstReference(f *testing.F) {
	for _, c := range loadCorpus(f) {
		f.Add(c.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) { compareWithReference(t, raw) })
}
