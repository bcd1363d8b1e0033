package imapmsg

import (
	"errors"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// allPaths lists the part path of every entity of m, nested messages
// included, in depth-first order.
func allPaths(m *Message) [][]int {
	var out [][]int
	var walk func(p *mimeparse.Part, path []int, isMessage bool)
	walk = func(p *mimeparse.Part, path []int, isMessage bool) {
		if len(path) > 0 {
			out = append(out, append([]int(nil), path...))
		}
		switch {
		case p.IsMultipart():
			for i, c := range p.Children() {
				walk(c, append(path, i+1), false)
			}
		case isMessage:
			walk(p, append(path, 1), false)
		case p.Embedded() != nil:
			walk(p.Embedded(), path, true)
		}
	}
	walk(m.root, nil, true)
	// Entering a non-multipart embedded message repeats its path; drop
	// the duplicates.
	var uniq [][]int
	seen := map[string]bool{}
	for _, p := range out {
		if k := partString(p); !seen[k] {
			seen[k] = true
			uniq = append(uniq, p)
		}
	}
	return uniq
}

func TestAllPaths(t *testing.T) {
	tests := []struct {
		msg  string
		want []string
	}{
		{"simple", []string{"1"}},
		{"nested", []string{"1", "1.1", "1.2", "2"}},
		{"rfc822", []string{"1", "2", "2.1", "2.2"}},
		{"digest", []string{"1", "1.1", "2", "2.1"}},
	}
	for _, tt := range tests {
		var got []string
		for _, p := range allPaths(Parse([]byte(corpusRaw(tt.msg)))) {
			got = append(got, partString(p))
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: paths %v, want %v", tt.msg, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: paths %v, want %v", tt.msg, got, tt.want)
				break
			}
		}
	}
}

// TestFetchEverything fetches every item of every part of every corpus
// message, malformed ones included, through the loopback server and checks
// that the connection survives and whole-message data is exact.
func TestFetchEverything(t *testing.T) {
	msgs := corpusMsgs()
	srv := startServer(t, msgs)
	c := srv.dial(t)
	for i, cm := range corpus {
		seq := uint32(i + 1)
		t.Run(cm.name, func(t *testing.T) {
			for _, extended := range []bool{false, true} {
				whole := &imap.FetchItemBodySection{Peek: true}
				options := &imap.FetchOptions{
					UID: true, Flags: true, InternalDate: true, RFC822Size: true,
					Envelope:      true,
					BodyStructure: &imap.FetchItemBodyStructure{Extended: extended},
					BodySection: []*imap.FetchItemBodySection{
						whole,
						{Specifier: imap.PartSpecifierHeader, Peek: true},
						{Specifier: imap.PartSpecifierText, Peek: true},
						{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject", "From"}, Peek: true},
						{Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"Subject"}, Peek: true},
					},
					BinarySection:     []*imap.FetchItemBinarySection{{Peek: true}},
					BinarySectionSize: []*imap.FetchItemBinarySectionSize{{}},
				}
				buf, err := fetchOne(t, c, seq, options)
				if err != nil {
					t.Fatalf("fetch: %v", err)
				}
				if got := buf.FindBodySection(whole); string(got) != cm.raw {
					t.Errorf("BODY[] differs from the stored message")
				}
				if buf.BodyStructure == nil || buf.Envelope == nil {
					t.Fatalf("missing BODYSTRUCTURE or ENVELOPE")
				}
				want := Parse([]byte(cm.raw)).BodyStructure(extended)
				if shape(buf.BodyStructure) != shape(want) {
					t.Errorf("client parsed %s, want %s", shape(buf.BodyStructure), shape(want))
				}
			}

			paths := allPaths(Parse([]byte(cm.raw)))
			for len(paths) > 0 {
				n := min(len(paths), 40)
				chunk := paths[:n]
				paths = paths[n:]
				options := &imap.FetchOptions{UID: true}
				for _, p := range chunk {
					for _, spec := range []imap.PartSpecifier{imap.PartSpecifierNone, imap.PartSpecifierMIME, imap.PartSpecifierHeader, imap.PartSpecifierText} {
						options.BodySection = append(options.BodySection, &imap.FetchItemBodySection{Part: p, Specifier: spec, Peek: true})
					}
					options.BodySection = append(options.BodySection, &imap.FetchItemBodySection{Part: p, Peek: true, Partial: &imap.SectionPartial{Offset: 1, Size: 3}})
					options.BinarySection = append(options.BinarySection, &imap.FetchItemBinarySection{Part: p, Peek: true})
					options.BinarySectionSize = append(options.BinarySectionSize, &imap.FetchItemBinarySectionSize{Part: p})
				}
				_, err := fetchOne(t, c, seq, options)
				var imapErr *imap.Error
				if err != nil && !(errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeUnknownCTE) {
					t.Fatalf("fetch parts: %v", err)
				}
			}
			if err := c.Noop().Wait(); err != nil {
				t.Fatalf("connection lost: %v", err)
			}
		})
	}
}
