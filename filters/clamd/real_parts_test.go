package clamd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/filters"
)

// TestRealClamdParts checks ScopeParts against a real clamd whose only
// signature is the MD5 of the EICAR file: only a part that decodes to
// exactly those 68 bytes matches.
func TestRealClamdParts(t *testing.T) {
	clamd, sigtool := ensureClamd(t)
	c := startClamd(t, clamd, sigtool)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	eic := string(eicar())
	parts := &Filter{Client: c, Scope: ScopeParts}
	whole := &Filter{Client: c}

	tests := []struct {
		name         string
		raw          string
		wantInfected bool
		wantDetail   string // substring of the evidence detail
		// wholeToo is set when ScopeMessage finds it too. clamd decodes
		// a quoted-printable part with a final newline added, which
		// the MD5 signature does not match.
		wholeToo bool
	}{
		{
			name:         "base64 attachment",
			raw:          mail(multipartEnt("mixed", "b1", textPart("see attachment"), b64Part("eicar.com", eic))),
			wantInfected: true, wantDetail: `in part 2 "eicar.com"`, wholeToo: true,
		},
		{
			name:         "quoted-printable attachment",
			raw:          mail(multipartEnt("mixed", "b1", textPart("see attachment"), qpPart("eicar.txt", eic))),
			wantInfected: true, wantDetail: `in part 2 "eicar.txt"`,
		},
		{
			name: "nested multipart",
			raw: mail(multipartEnt("mixed", "outer",
				multipartEnt("alternative", "alt", textPart("text"), ent("<p>html</p>", "Content-Type: text/html")),
				multipartEnt("mixed", "inner", textPart("inner"), b64Part("eicar.com", eic)))),
			wantInfected: true, wantDetail: `in part 2.2 "eicar.com"`, wholeToo: true,
		},
		{
			name: "attached message",
			raw: mail(multipartEnt("mixed", "outer", textPart("forwarded"),
				rfc822Part(mail(multipartEnt("mixed", "fwd", textPart("inner text"), b64Part("eicar.com", eic)))))),
			wantInfected: true, wantDetail: `in part 2.2 "eicar.com"`, wholeToo: true,
		},
		{
			name: "clean multipart",
			raw: mail(multipartEnt("mixed", "b1", textPart("body text"),
				b64Part("report.pdf", "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"),
				qpPart("notes.txt", "na\xefve notes\r\n"))),
			wantInfected: false, wantDetail: "3 parts scanned",
		},
		{
			// The MD5 signature matches the exact file only: the text
			// body is the EICAR string followed by CRLF.
			name:         "EICAR pasted in a text body",
			raw:          mail(textPart(eic + "\r\n")),
			wantInfected: false, wantDetail: "1 part scanned",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := parts.Check(ctx, testMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			checkReal(t, v, tt.wantInfected, tt.wantDetail)
			wv, err := whole.Check(ctx, testMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("ScopeParts: %+v; ScopeMessage: %+v", v.Evidence, wv.Evidence)
			if tt.wholeToo && wv.Action != filters.Reject {
				t.Errorf("ScopeMessage missed what ScopeParts found: %+v", wv.Evidence)
			}
		})
	}

	// Messages scanned whole get exactly the verdict of ScopeMessage.
	noEnd := strings.TrimSuffix(mail(multipartEnt("mixed", "b1", textPart("a"), b64Part("eicar.com", eic))), "--b1--\r\nepilogue\r\n")
	many := make([]string, maxParts+1)
	for i := range many {
		many[i] = textPart("part")
	}
	many[maxParts] = b64Part("eicar.com", eic)
	fallbacks := []struct {
		name   string
		raw    string
		reason string
	}{
		{"no closing boundary", noEnd, "multipart without closing delimiter"},
		{"too deep", mail(nested(maxPartDepth+1, b64Part("eicar.com", eic))), "MIME nesting deeper than 10 levels"},
		{"too many parts", mail(multipartEnt("mixed", "many", many...)), "more than 16 parts"},
		{
			"unparsable message header",
			"From: alice@example.org\r\nnot a header\r\n" + strings.TrimPrefix(mail(multipartEnt("mixed", "b1", b64Part("eicar.com", eic))), "From: Alice <alice@example.org>\r\n"),
			"header line that is no field in message",
		},
		{
			"bad base64",
			mail(multipartEnt("mixed", "b1", ent("!!!!", "Content-Transfer-Encoding: base64"), b64Part("eicar.com", eic))),
			"cannot decode part 1",
		},
		{
			"two Content-Type fields",
			mail(multipartEnt("mixed", "b1", ent(b64(eic), "Content-Type: text/plain", "Content-Type: application/octet-stream", "Content-Transfer-Encoding: base64"))),
			"repeated Content-Type or Content-Transfer-Encoding in part 1",
		},
		{
			"unparsable Content-Type",
			mail(multipartEnt("mixed", "b1", ent(b64(eic), `Content-Type: application/octet-stream; name="a"; name="b"`, "Content-Transfer-Encoding: base64"))),
			"repeated parameter in part 1",
		},
		{
			"unparsable header of attached message",
			mail(multipartEnt("mixed", "b1", rfc822Part("not a header\r\n"+multipartEnt("mixed", "in", b64Part("eicar.com", eic))))),
			"header line that is no field in part 1",
		},
	}
	for _, tt := range fallbacks {
		t.Run("fallback/"+tt.name, func(t *testing.T) {
			v, err := parts.Check(ctx, testMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			wv, err := whole.Check(ctx, testMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("ScopeParts: %+v; ScopeMessage: %+v", v.Evidence, wv.Evidence)
			if len(v.Evidence) != 1 || !strings.Contains(v.Evidence[0].Detail, "whole message (fallback: "+tt.reason) {
				t.Fatalf("evidence %+v, want a fallback for %q", v.Evidence, tt.reason)
			}
			if v.Action != wv.Action || v.Reason != wv.Reason {
				t.Errorf("fallback verdict %+v differs from ScopeMessage's %+v", v, wv)
			}
		})
	}
}

// checkReal checks a verdict of the filter on real clamd.
func checkReal(t *testing.T, v filters.Verdict, wantInfected bool, wantDetail string) {
	t.Helper()
	if len(v.Evidence) != 1 {
		t.Fatalf("evidence %+v", v.Evidence)
	}
	e := v.Evidence[0]
	if wantInfected {
		if v.Action != filters.Reject || v.Code != 554 || e.Result != "infected" ||
			!strings.Contains(strings.ToLower(e.Detail), "eicar") {
			t.Errorf("verdict %+v, want EICAR found", v)
		}
	} else if v.Action != filters.Accept || e.Result != "clean" {
		t.Errorf("verdict %+v, want clean", v)
	}
	if !strings.Contains(e.Detail, wantDetail) {
		t.Errorf("evidence detail %q, want it to contain %q", e.Detail, wantDetail)
	}
}

// TestRealClamdAuto runs ScopeAuto against a real clamd: an attachment is
// scanned in the whole message by clamd's mail parser, a plain-text body in
// its decoded text.
func TestRealClamdAuto(t *testing.T) {
	clamd, sigtool := ensureClamd(t)
	c := startClamd(t, clamd, sigtool)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	eic := string(eicar())
	auto := &Filter{Client: c, Scope: ScopeAuto}
	tests := []struct {
		name         string
		raw          string
		wantInfected bool
		wantDetail   string
	}{
		{"base64 attachment: whole message", mail(multipartEnt("mixed", "b1", textPart("see attachment"), b64Part("eicar.com", eic))), true, ""},
		{"plain-text body that is the EICAR file", mail(ent(eic, "Content-Type: text/plain")), true, "in part 1"},
		{"base64 plain-text body", mail(ent(b64(eic), "Content-Type: text/plain", "Content-Transfer-Encoding: base64")), true, "in part 1"},
		{"clean text", mail(textPart("Lunch on Tuesday?\r\n")), false, "1 part scanned"},
		{"clean HTML alternative", mail(multipartEnt("alternative", "alt", textPart("hi"), ent("<p>hi</p>", "Content-Type: text/html"))), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := auto.Check(ctx, testMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Action == filters.Reject; got != tt.wantInfected {
				t.Fatalf("infected = %v, want %v: %+v", got, tt.wantInfected, v)
			}
			if len(v.Evidence) != 1 || !strings.Contains(v.Evidence[0].Detail, tt.wantDetail) {
				t.Errorf("evidence %+v, want a detail containing %q", v.Evidence, tt.wantDetail)
			}
		})
	}
}
