package imapmsg

import (
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/core/mimetext"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// shape renders a body structure compactly: leaves as type/subtype,
// multiparts as multipart/sub[children], message/rfc822 as
// message/rfc822{embedded}. Runs of identical siblings are not collapsed.
func shape(bs imap.BodyStructure) string {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		parts := make([]string, len(bs.Children))
		for i, c := range bs.Children {
			parts[i] = shape(c)
		}
		return "multipart/" + bs.Subtype + "[" + strings.Join(parts, ",") + "]"
	case *imap.BodyStructureSinglePart:
		s := bs.Type + "/" + bs.Subtype
		if bs.MessageRFC822 != nil {
			s += "{" + shape(bs.MessageRFC822.BodyStructure) + "}"
		}
		return s
	}
	return "?"
}

// depth returns how deeply bs nests.
func depth(bs imap.BodyStructure) int {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		max := 0
		for _, c := range bs.Children {
			if d := depth(c); d > max {
				max = d
			}
		}
		return max + 1
	case *imap.BodyStructureSinglePart:
		if bs.MessageRFC822 != nil {
			return depth(bs.MessageRFC822.BodyStructure) + 1
		}
	}
	return 0
}

// checkWritable asserts the invariants go-imap's writer relies on.
func checkWritable(t *testing.T, bs imap.BodyStructure, extended bool) {
	t.Helper()
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if len(bs.Children) == 0 {
			t.Fatalf("multipart/%s without children", bs.Subtype)
		}
		if extended && bs.Extended == nil {
			t.Fatalf("multipart/%s without extension data", bs.Subtype)
		}
		for _, c := range bs.Children {
			checkWritable(t, c, extended)
		}
	case *imap.BodyStructureSinglePart:
		if extended && bs.Extended == nil {
			t.Fatalf("%s/%s without extension data", bs.Type, bs.Subtype)
		}
		isMsg := strings.EqualFold(bs.Type, "message") &&
			(strings.EqualFold(bs.Subtype, "rfc822") || strings.EqualFold(bs.Subtype, "global"))
		if isMsg != (bs.MessageRFC822 != nil) {
			t.Fatalf("%s/%s: MessageRFC822 set = %v", bs.Type, bs.Subtype, bs.MessageRFC822 != nil)
		}
		if bs.MessageRFC822 != nil {
			checkWritable(t, bs.MessageRFC822.BodyStructure, extended)
		}
	default:
		t.Fatalf("unexpected body structure %T", bs)
	}
}

func TestBodyStructureShape(t *testing.T) {
	deepLeaf := strings.Repeat("multipart/mixed[", mimeparse.MaxDepth) + "text/plain" + strings.Repeat("]", mimeparse.MaxDepth)
	tests := []struct {
		name string
		want string
	}{
		{"simple", "text/plain"},
		{"alternative", "multipart/alternative[text/plain,text/html]"},
		{"mixed", "multipart/mixed[text/plain,application/pdf]"},
		{"nested", "multipart/mixed[multipart/alternative[text/plain,text/html],image/png]"},
		{"rfc822", "multipart/mixed[text/plain,message/rfc822{multipart/alternative[text/plain,text/html]}]"},
		{"encoded", "multipart/mixed[text/plain,application/octet-stream]"},
		{"utf8header", "text/plain"},
		{"groups", "text/plain"},
		{"digest", "multipart/digest[message/rfc822{text/plain},message/rfc822{text/plain}]"},
		{"noseparator", "text/plain"},
		{"headeronly", "text/plain"},
		{"barelf", "multipart/alternative[text/plain,text/html]"},
		{"missingboundary", "text/plain"},
		{"wrongboundary", "text/plain"},
		{"closeonly", "text/plain"},
		{"unterminated", "multipart/mixed[text/plain,text/plain]"},
		{"badencodings", "multipart/mixed[text/plain,text/plain,text/plain,text/plain,text/plain]"},
		{"latin1header", "text/plain"},
		{"nul", "text/plain"},
		{"empty", "text/plain"},
		{"badcontenttype", "text/plain"},
		{"deepmultipart", deepLeaf},
		{"hugeheader", "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Parse([]byte(corpusRaw(tt.name)))
			for _, ext := range []bool{false, true} {
				bs := m.BodyStructure(ext)
				checkWritable(t, bs, ext)
				if got := shape(bs); got != tt.want {
					t.Errorf("extended=%v: shape\n got %s\nwant %s", ext, got, tt.want)
				}
			}
		})
	}
}

func TestBodyStructureLimits(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		wantDepth int
		wantParts int
	}{
		{"deeprfc822", deepRFC822(10000), mimeparse.MaxDepth, mimeparse.MaxDepth + 1},
		{"deepmultipart", deepMultipart(10000), mimeparse.MaxDepth, mimeparse.MaxDepth + 1},
		{"manyparts", manyParts(3000), 1, mimeparse.MaxParts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := Parse([]byte(tt.raw)).BodyStructure(true)
			checkWritable(t, bs, true)
			if d := depth(bs); d != tt.wantDepth {
				t.Errorf("depth = %d, want %d", d, tt.wantDepth)
			}
			n := 0
			countParts(bs, &n)
			if n != tt.wantParts {
				t.Errorf("parts = %d, want %d", n, tt.wantParts)
			}
		})
	}
}

// countParts counts every entity of bs, containers included.
func countParts(bs imap.BodyStructure, n *int) {
	*n++
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		for _, c := range bs.Children {
			countParts(c, n)
		}
	case *imap.BodyStructureSinglePart:
		if bs.MessageRFC822 != nil {
			countParts(bs.MessageRFC822.BodyStructure, n)
		}
	}
}

func TestBodyStructureFields(t *testing.T) {
	mixed := Parse([]byte(msgMixed)).BodyStructure(true).(*imap.BodyStructureMultiPart)
	pdf := mixed.Children[1].(*imap.BodyStructureSinglePart)
	wantPDF := &imap.BodyStructureSinglePart{
		Type:        "application",
		Subtype:     "pdf",
		Params:      map[string]string{"name": "report.pdf"},
		ID:          "<pdf1@example.com>",
		Description: "Quarterly report",
		Encoding:    "base64",
		Size:        uint32(len(pdfBase64) + 2),
		Extended: &imap.BodyStructureSinglePartExt{
			Disposition: &imap.BodyStructureDisposition{
				Value:  "attachment",
				Params: map[string]string{"filename": "report.pdf", "size": "28"},
			},
			Language: []string{"en", "de"},
			Location: "http://example.com/report.pdf",
		},
	}
	if !reflect.DeepEqual(pdf, wantPDF) {
		t.Errorf("pdf part\n got %+v %+v\nwant %+v %+v", pdf, pdf.Extended, wantPDF, wantPDF.Extended)
	}
	text := mixed.Children[0].(*imap.BodyStructureSinglePart)
	if text.Text == nil || text.Text.NumLines != 1 || text.Size != uint32(len("See attached.")) {
		t.Errorf("text part = %+v, text %+v", text, text.Text)
	}
	if text.Encoding != "7bit" || text.Params != nil {
		t.Errorf("text part encoding %q params %v", text.Encoding, text.Params)
	}
	if got := mixed.Extended.Params; !reflect.DeepEqual(got, map[string]string{"boundary": "MIX"}) {
		t.Errorf("multipart params = %v", got)
	}

	simple := Parse([]byte(msgSimple)).BodyStructure(false).(*imap.BodyStructureSinglePart)
	if simple.Extended != nil || simple.Text.NumLines != 2 || simple.Size != uint32(len(simpleBody)) {
		t.Errorf("simple = %+v", simple)
	}

	fwd := Parse([]byte(msgRFC822)).BodyStructure(true).(*imap.BodyStructureMultiPart)
	msg := fwd.Children[1].(*imap.BodyStructureSinglePart)
	if msg.Size != uint32(len(embeddedPart)) || msg.MessageRFC822.NumLines != int64(strings.Count(embedded, "\n")) {
		t.Errorf("message/rfc822 size %d lines %d", msg.Size, msg.MessageRFC822.NumLines)
	}
	if env := msg.MessageRFC822.Envelope; env.Subject != "inner subject" || env.MessageID != "inner@example.com" {
		t.Errorf("embedded envelope = %+v", env)
	}
	if d := msg.Extended.Disposition; d == nil || d.Value != "inline" {
		t.Errorf("embedded disposition = %+v", d)
	}

	enc := Parse([]byte(msgEncoded)).BodyStructure(true).(*imap.BodyStructureMultiPart)
	att := enc.Children[1].(*imap.BodyStructureSinglePart)
	if got, want := decodeWords(t, att.Params["name"]), "€ rates 2024.txt"; got != want {
		t.Errorf("RFC 2231 continued name = %q (%q), want %q", got, att.Params["name"], want)
	}
	if got, want := decodeWords(t, att.Extended.Disposition.Params["filename"]), "€ rates.txt"; got != want {
		t.Errorf("RFC 2231 filename = %q, want %q", got, want)
	}
	latin := enc.Children[0].(*imap.BodyStructureSinglePart)
	if latin.Params["charset"] != "iso-8859-1" || latin.Encoding != "quoted-printable" {
		t.Errorf("latin part = %+v", latin)
	}

	broken := Parse([]byte(msgWrongBoundary)).BodyStructure(true).(*imap.BodyStructureSinglePart)
	if !reflect.DeepEqual(broken.Params, map[string]string{"charset": "us-ascii"}) {
		t.Errorf("downgraded multipart params = %v", broken.Params)
	}
	body := msgWrongBoundary[strings.Index(msgWrongBoundary, "\r\n\r\n")+4:]
	if broken.Size != uint32(len(body)) || broken.Text.NumLines != 5 {
		t.Errorf("downgraded multipart size %d lines %d", broken.Size, broken.Text.NumLines)
	}
}

// decodeWords decodes RFC 2047 text as an IMAP client would.
func decodeWords(t *testing.T, s string) string {
	t.Helper()
	out, err := mimetext.WordDecoder.DecodeHeader(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return out
}
