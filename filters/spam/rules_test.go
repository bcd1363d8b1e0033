package spam

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// without removes the header fields named in keys from cleanHeader.
func without(keys ...string) string {
	var out []string
	for _, line := range strings.SplitAfter(cleanHeader, "\n") {
		drop := false
		for _, k := range keys {
			if strings.HasPrefix(strings.ToLower(line), strings.ToLower(k)+":") {
				drop = true
			}
		}
		if !drop && line != "" {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

// replace returns cleanHeader with field key set to value.
func replace(key, value string) string {
	return without(key) + key + ": " + value + "\n"
}

func hitCounts(hits []Hit) map[string]int {
	m := map[string]int{}
	for _, h := range hits {
		m[h.Rule]++
	}
	return m
}

func TestRules(t *testing.T) {
	plain := "Content-Type: text/plain\n\nHello Bob, see you on Friday.\n"
	tests := []struct {
		name string
		raw  string
		want map[string]int
	}{
		{"clean", cleanHeader + plain, nil},
		{"clean without MIME header", without("MIME-Version") + "\nJust text.\n", nil},
		{"missing date", without("Date") + plain, map[string]int{RuleMissingDate: 1}},
		{"missing message-id", without("Message-ID") + plain, map[string]int{RuleMissingMID: 1}},
		{"missing both", without("Date", "Message-ID") + plain, map[string]int{RuleMissingDate: 1, RuleMissingMID: 1}},
		{"no from", without("From") + plain, map[string]int{RuleFromInvalid: 1}},
		{"unparsable from", replace("From", "<<not an address>>") + plain, map[string]int{RuleFromInvalid: 1}},
		{"from without domain", replace("From", "Ann <ann>") + plain, map[string]int{RuleFromInvalid: 1}},
		{"forged display name", replace("From", `"service@paypal.com" <billing@scam.example>`) + plain, map[string]int{RuleFromForged: 1}},
		{"forged encoded display name", replace("From", `=?utf-8?q?support=40bank=2Eexample?= <x@evil.example>`) + plain, map[string]int{RuleFromForged: 1}},
		{"display address of the same site", replace("From", `"ann@example.net" <ann@mail.example.net>`) + plain, nil},
		{"display address with the same domain", replace("From", `"Ann (ann@EXAMPLE.net)" <other@example.net>`) + plain, nil},
		{"html only", cleanHeader + "Content-Type: text/html\n\n<p>Hello <b>Bob</b></p>\n", map[string]int{RuleHTMLOnly: 1}},
		{"html with alternative", alternative(cleanHeader, "Hello Bob", "<p>Hello <b>Bob</b></p>"), nil},
		{"html only in multipart", cleanHeader + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>hi</p>\n--b--\n", map[string]int{RuleHTMLOnly: 1}},
		{"deceptive link", alternative(cleanHeader, "Log in", `<a href="http://evil.example/login">https://www.paypal.com/signin</a>`),
			map[string]int{RuleSuspiciousLink: 1}},
		{"deceptive link without scheme", alternative(cleanHeader, "Log in", `<a href="https://evil.example/login"><b>www.mybank.example</b></a>`),
			map[string]int{RuleSuspiciousLink: 1}},
		{"honest links", alternative(cleanHeader, "see https://example.org/a",
			`<a href="https://www.example.org/a">example.org/a</a> <a href="https://shop.example.org/">Click here</a> <a href="mailto:x@example.org">x@example.org</a>`), nil},
		{"text that only contains a host name", alternative(cleanHeader, "docs", `<a href="https://nodejs.org/">Node.js docs</a> <a href="https://b.example/">mr.smith wrote</a>`), nil},
		{"raw ip links", cleanHeader + plain + "Go to http://192.0.2.55/x or http://3232235777/y or http://[2001:db8::1]/z now\n",
			map[string]int{RuleSuspiciousLink: 3}},
		{"suspicious links capped", alternative(cleanHeader, "x",
			`<a href="http://a.example/">b.example</a><a href="http://c.example/">d.example</a><a href="http://e.example/">f.example</a><a href="http://g.example/">h.example</a><a href="http://10.0.0.1/">x</a>`),
			map[string]int{RuleSuspiciousLink: 3}},
		{"all caps subject", replace("Subject", "FREE MONEY NOW!!!") + plain, map[string]int{RuleSubjectCaps: 1}},
		{"all caps encoded subject", replace("Subject", "=?utf-8?q?=C3=89NORME_R=C3=89DUCTION?=") + plain, map[string]int{RuleSubjectCaps: 1}},
		{"short caps subject", replace("Subject", "HI THERE!") + plain, nil},
		{"mostly caps subject", replace("Subject", "Free MONEY now") + plain, nil},
		{"81 percent caps", replace("Subject", "ABCDEFGHIJKLMnop") + plain, map[string]int{RuleSubjectCaps: 1}},
		{"exe attachment", withAttachment(cleanHeader, "invoice.pdf.exe", "application/octet-stream", []byte("MZ")), map[string]int{RuleBadAttachment: 1}},
		{"js in zip", withAttachment(cleanHeader, "docs.zip", "application/zip", zipOf(t, "readme.txt", "dir/Invoice.JS")), map[string]int{RuleBadAttachment: 1}},
		{"zip by type", withAttachment(cleanHeader, "docs.bin", "application/zip", zipOf(t, "run.bat")), map[string]int{RuleBadAttachment: 1}},
		{"harmless zip", withAttachment(cleanHeader, "docs.zip", "application/zip", zipOf(t, "report.pdf", "photo.jpg")), nil},
		{"corrupt zip", withAttachment(cleanHeader, "docs.zip", "application/zip", []byte("PK\x03\x04 not really a zip")), nil},
		{"pdf attachment", withAttachment(cleanHeader, "report.pdf", "application/pdf", []byte("%PDF-1.4")), nil},
		{"name in content-type only", cleanHeader + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/octet-stream; name=setup.scr\n\nxx\n--b--\n",
			map[string]int{RuleBadAttachment: 1}},
		{"rfc 2231 file name", cleanHeader + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.vbs\n\nxx\n--b--\n",
			map[string]int{RuleBadAttachment: 1}},
		{"attached message with exe", cleanHeader + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nfwd\n--b\nContent-Type: message/rfc822\n\n" +
			withAttachment("Subject: inner\n", "game.com", "application/octet-stream", []byte("x")) + "\n--b--\n",
			map[string]int{RuleBadAttachment: 1}},
		{"authentication failures", cleanHeader +
			"Authentication-Results: mx.example.com; spf=fail (sender IP is 192.0.2.1) smtp.mailfrom=ann@example.net;\n dkim=fail reason=\"bad signature\" header.d=example.net; dmarc=fail header.from=example.net\n" + plain,
			map[string]int{RuleSPFFail: 1, RuleDKIMFail: 1, RuleDMARCFail: 1}},
		{"authentication results of another host", cleanHeader +
			"Authentication-Results: mx.evil.example; spf=fail smtp.mailfrom=ann@example.net; dmarc=fail header.from=example.net\n" + plain, nil},
		{"one dkim signature passes", cleanHeader +
			"Authentication-Results: MX.example.com; dkim=fail header.d=a.example; dkim=pass header.d=example.net; spf=pass smtp.mailfrom=example.net\n" + plain, nil},
		{"results in two fields", cleanHeader +
			"Authentication-Results: mx.example.com; spf=softfail smtp.mailfrom=example.net\n" +
			"Authentication-Results: mx.example.com 1; dmarc=fail (p=reject) header.from=example.net\n" + plain,
			map[string]int{RuleDMARCFail: 1}},
		{"garbage authentication results", cleanHeader + "Authentication-Results: mx.example.com; ;;; ==; spf\n" + plain, nil},
		{"everything", without("Date", "Message-ID", "Subject") + "Subject: YOU HAVE WON A PRIZE\n" +
			"Authentication-Results: mx.example.com; spf=fail smtp.mailfrom=example.net\n" +
			"Content-Type: text/html\n\n<a href=\"http://192.0.2.1/\">claim</a>\n",
			map[string]int{RuleMissingDate: 1, RuleMissingMID: 1, RuleHTMLOnly: 1, RuleSuspiciousLink: 1, RuleSubjectCaps: 1, RuleSPFFail: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := newTestMessage(crlf(tt.raw))
			pm := parseMessage(context.Background(), msg.Header, msg.Open)
			hits := scoreRules(pm, testHostname)
			got := hitCounts(hits)
			want := tt.want
			if want == nil {
				want = map[string]int{}
			}
			if !maps.Equal(got, want) {
				t.Fatalf("hits = %v, want %v", describe(hits), want)
			}
			for _, h := range hits {
				if h.Detail == "" || h.Score <= 0 {
					t.Errorf("hit without detail or score: %+v", h)
				}
			}
		})
	}
}

func describe(hits []Hit) string {
	var s []string
	for _, h := range hits {
		s = append(s, fmt.Sprintf("%s(%.1f: %s)", h.Rule, h.Score, h.Detail))
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// TestBrokenMIME checks that broken mail is scored as far as it can be
// read, without failing.
func TestBrokenMIME(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		want     map[string]int
		wantText string // a word expected among the tokens
	}{
		{"unterminated multipart", cleanHeader + "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>cutoff happens</p>\n",
			map[string]int{RuleHTMLOnly: 1}, "cutoff"},
		{"no boundary parameter", cleanHeader + "Content-Type: multipart/mixed\n\n--b\nContent-Type: text/plain\n\nhello\n--b--\n", nil, ""},
		{"wrong boundary", cleanHeader + "Content-Type: multipart/mixed; boundary=zzz\n\n--b\nContent-Type: text/plain\n\nhello\n--b--\n", nil, ""},
		{"bad base64", cleanHeader + "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQgZnJvbSBiYXNlNjQ=\n!!!not base64!!!\n", nil, "hello"},
		{"unknown transfer encoding", cleanHeader + "Content-Type: text/plain\nContent-Transfer-Encoding: x-weird\n\nreadable anyway\n", nil, "readable"},
		{"unknown charset", cleanHeader + "Content-Type: text/plain; charset=x-unknown-42\n\nstill readable\n", nil, "readable"},
		{"latin-1 charset", cleanHeader + "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nd=E9j=E0 vu caf=E9\n", nil, "déjà"},
		{"malformed content type", cleanHeader + "Content-Type: text/html;;; charset==\n\n<b>bold move</b>\n", map[string]int{RuleHTMLOnly: 1}, "bold"},
		{"content type without subtype", cleanHeader + "Content-Type: garbage\n\nplain words\n", nil, "plain"},
		// The Date field after a line that is no field counts, as the
		// MTA and core/mimeparse read headers.
		{"broken header line", "From: ann@example.net\nthis is no header field\nDate: Mon, 6 May 2024 10:00:00 +0000\n\nbody words here\n",
			map[string]int{RuleMissingMID: 1}, "body"},
		{"header only", "From: ann@example.net\nSubject: nothing else", map[string]int{RuleMissingDate: 1, RuleMissingMID: 1}, "nothing"},
		{"empty", "", map[string]int{RuleMissingDate: 1, RuleMissingMID: 1, RuleFromInvalid: 1}, ""},
		{"binary junk", "\x00\x01\x02\xff\xfe\n\n\x00", map[string]int{RuleMissingDate: 1, RuleMissingMID: 1, RuleFromInvalid: 1}, ""},
		{"broken html", cleanHeader + "Content-Type: text/html\n\n<a href=\"http://192.0.2.9/\">unclosed <script>var x = 'hidden';<<<</div", map[string]int{RuleHTMLOnly: 1, RuleSuspiciousLink: 1}, "unclosed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := newTestMessage(crlf(tt.raw))
			pm := parseMessage(context.Background(), msg.Header, msg.Open)
			got := hitCounts(scoreRules(pm, testHostname))
			want := tt.want
			if want == nil {
				want = map[string]int{}
			}
			if !maps.Equal(got, want) {
				t.Errorf("hits = %v, want %v", got, want)
			}
			if tt.wantText != "" && !slices.Contains(tokenize(pm), tt.wantText) {
				t.Errorf("token %q not found in %v (texts %q)", tt.wantText, tokenize(pm), pm.Texts)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	// Too deep.
	var b strings.Builder
	b.WriteString(cleanHeader)
	for i := range 30 {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\n\ndeepest\n")
	msg := newTestMessage(crlf(b.String()))
	pm := parseMessage(context.Background(), msg.Header, msg.Open)
	if !pm.Truncated || pm.Parts > maxDepth+1 || slices.Contains(tokenize(pm), "deepest") {
		t.Errorf("deep nesting: truncated %v, %d parts", pm.Truncated, pm.Parts)
	}

	// Too many parts: the attachment at the end is not seen.
	b.Reset()
	b.WriteString(cleanHeader + "Content-Type: multipart/mixed; boundary=b\n\n")
	for range 300 {
		b.WriteString("--b\nContent-Type: text/plain\n\nx\n")
	}
	b.WriteString("--b\nContent-Type: application/octet-stream; name=late.exe\n\nMZ\n--b--\n")
	msg = newTestMessage(crlf(b.String()))
	pm = parseMessage(context.Background(), msg.Header, msg.Open)
	if !pm.Truncated || pm.Parts != maxParts || len(pm.Attachments) != 0 {
		t.Errorf("many parts: truncated %v, %d parts, attachments %v", pm.Truncated, pm.Parts, pm.Attachments)
	}

	// Too big: reading stops at the limit.
	raw := cleanHeader + "Content-Type: text/plain\n\n" + strings.Repeat("filler words here\n", maxReadBytes/16) + "sentinelword\n"
	msg = newTestMessage(raw)
	pm = parseMessage(context.Background(), msg.Header, msg.Open)
	if !pm.Truncated || slices.Contains(tokenize(pm), "sentinelword") {
		t.Errorf("big message: truncated %v", pm.Truncated)
	}
	if n := len(tokenize(pm)); n > maxTokens {
		t.Errorf("%d tokens", n)
	}
}
