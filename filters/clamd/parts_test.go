package clamd

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"mime/quotedprintable"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	// Registers a charset reader in go-message, as the spam filter does in
	// the server: the part walker must not convert charsets anyway.
	_ "github.com/emersion/go-message/charset"

	"github.com/yubinmail/yubin/filters"
)

// ent returns a MIME entity: the header fields given ("Key: value"), a blank
// line and body.
func ent(body string, fields ...string) string {
	if len(fields) == 0 {
		return "\r\n" + body
	}
	return strings.Join(fields, "\r\n") + "\r\n\r\n" + body
}

// multipartEnt returns a multipart entity of the given subtype holding
// parts (entities), with a preamble and an epilogue.
func multipartEnt(subtype, boundary string, parts ...string) string {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/" + subtype + "; boundary=\"" + boundary + "\"\r\n\r\n")
	b.WriteString("This is a multi-part message in MIME format.\r\n")
	for _, p := range parts {
		b.WriteString("--" + boundary + "\r\n" + p + "\r\n")
	}
	b.WriteString("--" + boundary + "--\r\nepilogue\r\n")
	return b.String()
}

// mail returns a message whose top-level entity is e.
func mail(e string) string {
	return "From: Alice <alice@example.org>\r\n" +
		"To: bob@example.com\r\n" +
		"Subject: parts\r\n" +
		"Message-ID: <parts@example.org>\r\n" +
		"MIME-Version: 1.0\r\n" + e
}

func b64(s string) string {
	enc := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	return b.String()
}

func qp(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// textPart, b64Part and qpPart return leaf entities.
func textPart(body string) string {
	return ent(body, "Content-Type: text/plain; charset=utf-8")
}

func b64Part(name, content string) string {
	return ent(b64(content),
		"Content-Type: application/octet-stream; name=\""+name+"\"",
		"Content-Disposition: attachment; filename=\""+name+"\"",
		"Content-Transfer-Encoding: base64")
}

func qpPart(name, content string) string {
	return ent(qp(content),
		"Content-Type: application/octet-stream",
		"Content-Disposition: attachment; filename=\""+name+"\"",
		"Content-Transfer-Encoding: quoted-printable")
}

// rfc822Part returns an attached message.
func rfc822Part(msg string) string {
	return ent(msg, "Content-Type: message/rfc822", "Content-Disposition: attachment")
}

// nested returns an entity nesting e in n multiparts.
func nested(n int, e string) string {
	for i := range n {
		e = multipartEnt("mixed", "n"+strconv.Itoa(i), e)
	}
	return e
}

// manyParts returns a multipart of n text parts.
func manyParts(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = textPart("part " + strconv.Itoa(i+1))
	}
	return multipartEnt("mixed", "many", parts...)
}

func strs(s ...string) []string { return s }

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		want    Scope
		wantErr bool
	}{
		{"message", ScopeMessage, false},
		{"parts", ScopeParts, false},
		{" Parts ", ScopeParts, false},
		{"MESSAGE", ScopeMessage, false},
		{"auto", ScopeAuto, false},
		{"", 0, true},
		{"part", 0, true},
		{"whole", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseScope(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseScope(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err == nil && got.String() != strings.ToLower(strings.TrimSpace(tt.in)) {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	if s := Scope(7).String(); s != "Scope(7)" {
		t.Errorf("Scope(7).String() = %q", s)
	}
	var f Filter
	if f.Scope != ScopeMessage {
		t.Error("the zero Scope is not ScopeMessage")
	}
}

func TestFilterParts(t *testing.T) {
	f := newFakeClamd(t, "tcp")
	flt := &Filter{Client: &Client{Addr: f.addr(), Timeout: 5 * time.Second}, Scope: ScopeParts}
	const marker = "VIRUS-MARKER"
	tests := []struct {
		name       string
		raw        string
		wantResult string   // "clean" or "infected"
		wantDetail string   // exact
		wantData   []string // the streams clamd receives
	}{
		{
			name:       "single text part",
			raw:        mail(textPart("Hello Bob,\r\nall fine.\r\n")),
			wantResult: "clean", wantDetail: "1 part scanned",
			wantData: strs("Hello Bob,\r\nall fine.\r\n"),
		},
		{
			name:       "no MIME header",
			raw:        "Subject: plain\r\n\r\nJust text.\r\n",
			wantResult: "clean", wantDetail: "1 part scanned",
			wantData: strs("Just text.\r\n"),
		},
		{
			name:       "LF line endings",
			raw:        strings.ReplaceAll(mail(multipartEnt("mixed", "lf", textPart("a"), b64Part("b.bin", "bbb"))), "\r\n", "\n"),
			wantResult: "clean", wantDetail: "2 parts scanned",
			wantData: strs("a", "bbb"),
		},
		{
			name:       "base64 body",
			raw:        mail(ent(b64("xx"+marker+"xx"), "Content-Type: application/pdf", "Content-Transfer-Encoding: base64")),
			wantResult: "infected", wantDetail: fakeSig + " in part 1",
			wantData: strs("xx" + marker + "xx"),
		},
		{
			name:       "base64 attachment",
			raw:        mail(multipartEnt("mixed", "b1", textPart("see attachment"), b64Part("x.exe", marker))),
			wantResult: "infected", wantDetail: fakeSig + ` in part 2 "x.exe"`,
			wantData: strs("see attachment", marker),
		},
		{
			name:       "quoted-printable attachment",
			raw:        mail(multipartEnt("mixed", "b1", textPart("see attachment"), qpPart("q.txt", "caf\xe9 "+marker+"\r\n"))),
			wantResult: "infected", wantDetail: fakeSig + ` in part 2 "q.txt"`,
			wantData: strs("see attachment", "caf\xe9 "+marker+"\r\n"),
		},
		{
			name: "nested multipart",
			raw: mail(multipartEnt("mixed", "outer",
				multipartEnt("alternative", "alt", textPart("text"), ent("<p>html</p>", "Content-Type: text/html")),
				multipartEnt("mixed", "inner", b64Part("deep.bin", marker)))),
			wantResult: "infected", wantDetail: fakeSig + ` in part 2.1 "deep.bin"`,
			wantData: strs("text", "<p>html</p>", marker),
		},
		{
			name: "attached message",
			raw: mail(multipartEnt("mixed", "outer",
				textPart("forwarded"),
				rfc822Part(mail(multipartEnt("mixed", "fwd", textPart("inner text"), b64Part("inner.bin", marker)))))),
			wantResult: "infected", wantDetail: fakeSig + ` in part 2.2 "inner.bin"`,
			wantData: strs("forwarded", "inner text", marker),
		},
		{
			name:       "attached single-part message",
			raw:        mail(multipartEnt("mixed", "outer", rfc822Part("Subject: inner\r\n\r\ninner body"))),
			wantResult: "clean", wantDetail: "1 part scanned",
			wantData: strs("inner body"),
		},
		{
			name: "digest",
			raw: mail(multipartEnt("digest", "dg",
				ent("Subject: one\r\n\r\nfirst"),
				ent("Subject: two\r\n\r\nsecond"))),
			wantResult: "clean", wantDetail: "2 parts scanned",
			wantData: strs("first", "second"),
		},
		{
			name: "clean multipart",
			raw: mail(multipartEnt("mixed", "b1",
				textPart("body"),
				b64Part("report.pdf", "%PDF-1.4 report"),
				qpPart("notes.txt", "na\xefve notes"))),
			wantResult: "clean", wantDetail: "3 parts scanned",
			wantData: strs("body", "%PDF-1.4 report", "na\xefve notes"),
		},
		{
			name: "charset not converted",
			raw: mail(ent("caf=E9 cr=E8me",
				"Content-Type: text/plain; charset=iso-8859-1",
				"Content-Transfer-Encoding: quoted-printable")),
			wantResult: "clean", wantDetail: "1 part scanned",
			wantData: strs("caf\xe9 cr\xe8me"),
		},
		{
			name:       "stops at the first infected part",
			raw:        mail(multipartEnt("mixed", "b1", b64Part("a.bin", marker), b64Part("b.bin", marker), textPart("c"))),
			wantResult: "infected", wantDetail: fakeSig + ` in part 1 "a.bin"`,
			wantData: strs(marker),
		},
		{
			name: "encoded file name",
			raw: mail(multipartEnt("mixed", "b1", ent(b64(marker),
				"Content-Type: application/octet-stream; name=\"=?utf-8?q?r=C3=A9sum=C3=A9.exe?=\"",
				"Content-Transfer-Encoding: base64"))),
			wantResult: "infected", wantDetail: fakeSig + ` in part 1 "résumé.exe"`,
			wantData: strs(marker),
		},
		{
			name:       "nesting at the limit",
			raw:        mail(nested(maxPartDepth, textPart("deep"))),
			wantResult: "clean", wantDetail: "1 part scanned",
			wantData: strs("deep"),
		},
		{
			name:       "parts at the limit",
			raw:        mail(manyParts(maxParts)),
			wantResult: "clean", wantDetail: fmt.Sprintf("%d parts scanned", maxParts),
		},
		{
			name:       "empty body",
			raw:        "Subject: empty\r\n\r\n",
			wantResult: "clean", wantDetail: "1 part scanned",
			wantData: strs(""),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.takeStreams()
			v, err := flt.Check(context.Background(), testMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			checkVerdict(t, v, tt.wantResult, tt.wantDetail)
			got := f.takeStreams()
			if tt.wantData != nil {
				checkStreams(t, got, tt.wantData)
			}
		})
	}
}

// checkStreams checks the streams clamd received against want, in order.
func checkStreams(t *testing.T, got [][]byte, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("clamd received %d streams %q, want %q", len(got), got, want)
	}
	for i := range got {
		if string(got[i]) != want[i] {
			t.Errorf("stream %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// checkVerdict checks the verdict of the filter on a message.
func checkVerdict(t *testing.T, v filters.Verdict, wantResult, wantDetail string) {
	t.Helper()
	if len(v.Evidence) != 1 {
		t.Fatalf("evidence = %+v", v.Evidence)
	}
	e := v.Evidence[0]
	if e.Result != wantResult || e.Detail != wantDetail {
		t.Errorf("evidence = %q %q, want %q %q", e.Result, e.Detail, wantResult, wantDetail)
	}
	switch wantResult {
	case "clean":
		if v.Action != filters.Accept {
			t.Errorf("verdict = %+v, want accept", v)
		}
	case "infected":
		if v.Action != filters.Reject || v.Code != 554 || v.EnhancedCode != [3]int{5, 7, 1} ||
			!strings.HasPrefix(v.Reason, "message contains a virus (") {
			t.Errorf("verdict = %+v, want 554 5.7.1 reject", v)
		}
	}
}

// fallbackCases are messages that ScopeParts scans whole, with the reason.
// When infected is set, the raw message holds the fake clamd's marker.
var fallbackCases = []struct {
	name   string
	raw    string
	reason string
}{
	{
		name:   "unparsable message header",
		raw:    "Subject: x\r\nthis is not a header\r\n\r\nVIRUS-MARKER\r\n",
		reason: "header line that is no field in message",
	},
	{
		name:   "no closing boundary",
		raw:    strings.TrimSuffix(mail(multipartEnt("mixed", "b1", textPart("a"), b64Part("x.bin", "VIRUS-MARKER"))), "--b1--\r\nepilogue\r\n"),
		reason: "multipart without closing delimiter in message",
	},
	{
		name: "no closing boundary in a nested multipart",
		raw: mail(multipartEnt("mixed", "outer", textPart("a"),
			strings.TrimSuffix(multipartEnt("mixed", "inner", textPart("b")), "--inner--\r\nepilogue\r\n"))),
		reason: "multipart without closing delimiter in part 2",
	},
	{
		name:   "no boundary parameter",
		raw:    mail(ent("--b1\r\n\r\nx\r\n--b1--\r\n", "Content-Type: multipart/mixed")),
		reason: "multipart without boundary or delimiter in message",
	},
	{
		name:   "no parts",
		raw:    mail(ent("just text\r\n", "Content-Type: multipart/mixed; boundary=b1")),
		reason: "multipart without boundary or delimiter in message",
	},
	{
		name:   "only a closing boundary",
		raw:    mail(ent("--b1--\r\n", "Content-Type: multipart/mixed; boundary=b1")),
		reason: "multipart without boundary or delimiter in message",
	},
	{
		name:   "unparsable Content-Type",
		raw:    mail(ent("--a\r\n\r\nx\r\n--a--\r\n", `Content-Type: multipart/mixed; boundary="a"; boundary="b"`)),
		reason: "repeated parameter in message",
	},
	{
		name:   "two Content-Type fields",
		raw:    mail(ent("--a\r\n\r\nx\r\n--a--\r\n", "Content-Type: text/plain", "Content-Type: multipart/mixed; boundary=a")),
		reason: "repeated Content-Type or Content-Transfer-Encoding in message",
	},
	{
		name: "two Content-Transfer-Encoding fields",
		raw: mail(multipartEnt("mixed", "b1", ent(b64("VIRUS-MARKER"), "Content-Type: application/octet-stream",
			"Content-Transfer-Encoding: 7bit", "Content-Transfer-Encoding: base64"))),
		reason: "repeated Content-Type or Content-Transfer-Encoding in part 1",
	},
	{
		name:   "bad base64",
		raw:    mail(multipartEnt("mixed", "b1", textPart("a"), ent("!!!!not base64!!!!", "Content-Transfer-Encoding: base64"))),
		reason: "cannot decode part 2: malformed base64 content",
	},
	{
		name:   "too deep",
		raw:    mail(nested(maxPartDepth+1, b64Part("deep.bin", "VIRUS-MARKER"))),
		reason: "MIME nesting deeper than 10 levels",
	},
	{
		name:   "too deep in attached messages",
		raw:    mail(nestedMessages(maxPartDepth+1, textPart("deep"))),
		reason: "MIME nesting deeper than 10 levels",
	},
	{
		name:   "too many parts",
		raw:    mail(manyParts(maxParts + 1)),
		reason: "more than 16 parts",
	},
	{
		name:   "header only, without empty line",
		raw:    "Subject: x\r\nFrom: a@example.org",
		reason: "header without empty line after it in message",
	},
	{
		name:   "unknown transfer encoding",
		raw:    mail(ent("begin 644 x\r\n`\r\nend", "Content-Type: application/octet-stream", "Content-Transfer-Encoding: x-uuencode")),
		reason: "unknown Content-Transfer-Encoding in message",
	},
	{
		name:   "encoded attached message",
		raw:    mail(ent(b64("Subject: x\r\n\r\nVIRUS-MARKER"), "Content-Type: message/rfc822", "Content-Transfer-Encoding: base64")),
		reason: "encoded message/rfc822 part in message",
	},
	{
		name:   "invalid Content-Type",
		raw:    mail(ent("VIRUS-MARKER", "Content-Type: garbage")),
		reason: "invalid Content-Type in message",
	},
	{
		name:   "8-bit field name",
		raw:    "X-F\xfc\xfc: bar\r\nContent-Type: text/plain\r\n\r\nVIRUS-MARKER",
		reason: "header line that is no field in message",
	},
	{
		name:   "unparsable header of attached message",
		raw:    mail(multipartEnt("mixed", "b1", textPart("a"), rfc822Part("not a header\r\n\r\nbody"))),
		reason: "header line that is no field in part 2",
	},
}

// nestedMessages returns an entity nesting e in n attached messages.
func nestedMessages(n int, e string) string {
	for range n {
		e = rfc822Part("Subject: fwd\r\n" + e)
	}
	return e
}

func TestFilterPartsFallback(t *testing.T) {
	f := newFakeClamd(t, "tcp")
	flt := &Filter{Client: &Client{Addr: f.addr(), Timeout: 5 * time.Second}, Scope: ScopeParts}
	for _, tt := range fallbackCases {
		t.Run(tt.name, func(t *testing.T) {
			f.takeStreams()
			v, err := flt.Check(context.Background(), testMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			where := "whole message (fallback: " + tt.reason + ")"
			if strings.Contains(tt.raw, "VIRUS-MARKER") {
				checkVerdict(t, v, "infected", fakeSig+" in "+where)
			} else {
				checkVerdict(t, v, "clean", where)
			}
			got := f.takeStreams()
			if len(got) != 1 || string(got[0]) != tt.raw {
				t.Errorf("clamd received %q, want the whole message", got)
			}
		})
	}
}

// TestFilterAuto checks ScopeAuto: plain text only → its decoded parts;
// anything else (HTML, attachments, broken MIME) → the whole message, with
// the evidence of ScopeMessage.
func TestFilterAuto(t *testing.T) {
	f := newFakeClamd(t, "tcp")
	flt := &Filter{Client: &Client{Addr: f.addr(), Timeout: 5 * time.Second}, Scope: ScopeAuto}
	tests := []struct {
		name       string
		raw        string
		wantResult string
		wantDetail string
		whole      bool     // clamd must get the whole message
		wantData   []string // else these streams
	}{
		{"single text part", mail(textPart("Hello Bob.\r\n")), "clean", "1 part scanned", false, strs("Hello Bob.\r\n")},
		{"no MIME header", "Subject: plain\r\n\r\nJust text.\r\n", "clean", "1 part scanned", false, strs("Just text.\r\n")},
		{"quoted-printable text", mail(ent(qp("caf\xe9 ="), "Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: quoted-printable")),
			"clean", "1 part scanned", false, strs("caf\xe9 =")},
		{"two text parts", mail(multipartEnt("mixed", "b1", textPart("one"), textPart("two"))), "clean", "2 parts scanned", false, strs("one", "two")},
		{"marker in plain text", mail(textPart("VIRUS-MARKER")), "infected", fakeSig + ` in part 1`, false, strs("VIRUS-MARKER")},
		{"HTML alternative", mail(multipartEnt("alternative", "alt", textPart("text"), ent("<p>html</p>", "Content-Type: text/html"))), "clean", "", true, nil},
		{"HTML only", mail(ent("<p>hi</p>", "Content-Type: text/html")), "clean", "", true, nil},
		{"attachment", mail(multipartEnt("mixed", "b1", textPart("see"), ent("VIRUS-MARKER", "Content-Type: application/octet-stream"))), "infected", fakeSig, true, nil},
		{"broken multipart", mail("Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nno end\r\n"), "clean", "", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.takeStreams()
			v, err := flt.Check(context.Background(), testMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			checkVerdict(t, v, tt.wantResult, tt.wantDetail)
			got := f.takeStreams()
			if tt.whole {
				if len(got) != 1 || string(got[0]) != tt.raw {
					t.Errorf("clamd received %q, want the whole message", got)
				}
				return
			}
			checkStreams(t, got, tt.wantData)
		})
	}
}

func TestFilterPartsSkipAndErrors(t *testing.T) {
	f := newFakeClamd(t, "tcp")
	c := &Client{Addr: f.addr(), Timeout: 5 * time.Second}
	raw := mail(multipartEnt("mixed", "b1", textPart("a"), b64Part("x.bin", "VIRUS-MARKER")))

	// MaxSize applies to the whole message.
	flt := &Filter{Client: c, Scope: ScopeParts, MaxSize: int64(len(raw) - 1)}
	v, err := flt.Check(context.Background(), testMessage(raw))
	if err != nil || len(v.Evidence) != 1 || v.Evidence[0].Result != "skipped" {
		t.Errorf("oversized message: %+v, %v", v, err)
	}
	if got := f.takeStreams(); len(got) != 0 {
		t.Errorf("oversized message scanned: %q", got)
	}
	flt.MaxSize = int64(len(raw))
	if v, err := flt.Check(context.Background(), testMessage(raw)); err != nil || v.Action != filters.Reject {
		t.Errorf("message at MaxSize: %+v, %v", v, err)
	}

	// The default scope sends the message whole: the fake clamd, which
	// decodes nothing, misses the base64 marker.
	f.takeStreams()
	v, err = NewFilter(c).Check(context.Background(), testMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	checkVerdict(t, v, "clean", "")
	if got := f.takeStreams(); len(got) != 1 || string(got[0]) != raw {
		t.Errorf("ScopeMessage sent %q", got)
	}

	// A part that clamd rejects as too large fails the check.
	f.limit = 3
	_, err = flt.Check(context.Background(), testMessage(mail(multipartEnt("mixed", "b1", textPart("a"), textPart("too large")))))
	if !errors.Is(err, ErrSizeLimit) || !strings.Contains(err.Error(), "part 2") {
		t.Errorf("part over the size limit: error %v", err)
	}
	f.limit = 0

	// clamd down.
	down := &Filter{Client: &Client{Addr: "127.0.0.1:1", Timeout: time.Second}, Scope: ScopeParts}
	if _, err := down.Check(context.Background(), testMessage(raw)); err == nil {
		t.Error("Check succeeded without clamd")
	}
}

var detailRE = regexp.MustCompile(`^([0-9]+) parts? scanned$`)

// partsSeeds is the seed corpus of FuzzScanParts.
func partsSeeds() []string {
	seeds := []string{
		"",
		"Subject: x\r\n\r\nbody",
		mail(textPart("Hello")),
		mail(multipartEnt("mixed", "b1", textPart("a"), b64Part("x.bin", "VIRUS-MARKER"), qpPart("q", "caf\xe9"))),
		mail(multipartEnt("mixed", "o", rfc822Part(mail(multipartEnt("alternative", "i", textPart("t"), textPart("h")))))),
		mail(multipartEnt("digest", "d", ent("Subject: 1\r\n\r\none"))),
		mail(nested(maxPartDepth+1, textPart("deep"))),
		mail(manyParts(maxParts + 1)),
	}
	for _, c := range fallbackCases {
		seeds = append(seeds, c.raw)
	}
	return seeds
}

// FuzzScanParts checks that ScopeParts never panics and always scans
// something: each leaf part, or the whole message.
func FuzzScanParts(f *testing.F) {
	for _, s := range partsSeeds() {
		f.Add([]byte(s))
	}
	fake := newFakeClamd(f, "tcp")
	flt := &Filter{Client: &Client{Addr: fake.addr(), Timeout: 5 * time.Second}, Scope: ScopeParts}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fake.takeStreams()
		v, err := flt.Check(context.Background(), testMessage(string(raw)))
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		got := fake.takeStreams()
		if len(v.Evidence) != 1 {
			t.Fatalf("evidence = %+v", v.Evidence)
		}
		e := v.Evidence[0]
		if strings.Contains(e.Detail, "whole message (fallback: ") {
			if len(got) != 1 || !bytes.Equal(got[0], raw) {
				t.Fatalf("fallback (%s) sent %d streams, not the whole message", e.Detail, len(got))
			}
			return
		}
		switch e.Result {
		case "clean":
			m := detailRE.FindStringSubmatch(e.Detail)
			if m == nil {
				t.Fatalf("clean evidence detail %q", e.Detail)
			}
			n, _ := strconv.Atoi(m[1])
			if n < 1 || n > maxParts || n != len(got) {
				t.Fatalf("detail %q, but clamd received %d streams", e.Detail, len(got))
			}
		case "infected":
			if len(got) < 1 || len(got) > maxParts || !bytes.Contains(got[len(got)-1], []byte(fake.virus)) {
				t.Fatalf("infected (%s) after %d streams", e.Detail, len(got))
			}
		default:
			t.Fatalf("evidence %+v", e)
		}
	})
}
