package spam

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/filters"
)

var updatePins = flag.Bool("update-pins", false, "rewrite the pinned outputs in testdata/ from the current code")

// pinCase is a message whose tokens and verdict are pinned.
type pinCase struct {
	Name string
	Raw  string
}

// pinCorpus returns messages covering the tokenizer's and the rules' paths:
// plain text, HTML, header fields, non-ASCII and broken UTF-8, URLs,
// attachments and broken MIME.
func pinCorpus(t testing.TB) []pinCase {
	longCJK := strings.Repeat("漢字", 15)         // 30 letters, 90 bytes: cut to 64 bytes
	longMixed := "Ab" + strings.Repeat("é", 38) // 40 letters, 78 bytes
	html := `<html><head><title>Title Words</title><style>.secretstyle { color: red }</style></head>` +
		`<body><div class="klass">Html<b>Bold</b>word &amp; entities&nbsp;here &eacute;t&eacute;</div>` +
		`<script>hiddenscript()</script><a href="http://Tracker.Example/t">click here</a> ` +
		`<a href="https://www.bank.example/login">https://bank.example.evil.test/login</a>` +
		`<a href="http://203.0.113.9/x">Numbers</a><a href="https://a.example/">b.example</a>` +
		`<A HREF="HTTP://Upper.Example:8080/P">www.upper.example</A><a>no href</a><a href="mailto:x@y.example">mail</a>` +
		`<img src="http://img.example/i.png"/><a href="ftp://files.example/f"/>unclosed <a href="http://last.example">last`
	return []pinCase{
		{"bench", benchMessage},
		{"bench multipart", benchMultipart(t)},
		{"plain", crlf(cleanHeader + "Content-Type: text/plain\n\nHello Bob, see you on Friday. Bring the $100 and Ann's book, 'quoted' words'' ''.\n" +
			"Numbers 123 4567 x1y2z3 and CamelCase WORDS; under_score dash-word dot.word e-mail@example.com\n")},
		{"no content-type", crlf(without("MIME-Version") + "\nJust text, a URL http://plain.example/a?b=c#d and www.not-a-link.example.\n")},
		{"urls", crlf(cleanHeader + "\nLinks: http://a.example https://B.Example:443/x HTTP://C.EXAMPLE/ ftp://ftp.example/file " +
			"hTTpS://mixed.example/ <http://angle.example/>, (https://paren.example/) \"http://quote.example\" 'http://single.example' " +
			"http://[2001:db8::1]/v6 http://[zz]/bad http:///nohost http://192.0.2.1/ip https://3232235777/ http://0xC0A80001/ " +
			"xhttp://noboundary.example _http://underscore.example éhttp://accent.example http://user:pw@host.example:99/p " +
			"https://trail.example/path. https://u.example/a?u=http://inner.example/ httpſ://longs.example/ " +
			"http://x.example/{brace} http://y.example/[bracket] http://z.example/é/ü http://\xff.example/ h\ttp://split.example " +
			"ftps://no.example FTP://UPPER.EXAMPLE http://\n")},
		{"html only", crlf(cleanHeader + "Content-Type: text/html; charset=utf-8\n\n" + html + "\n")},
		{"alternative", crlf(alternative(cleanHeader+"Reply-To: sales@Other.Example\nX-Mailer: Mass  Mailer 3\n",
			"Plain TEXT, with Words: ok no ab abc "+strings.Repeat("x", 41)+" "+strings.Repeat("y", 40)+" https://Link.Example/path", html))},
		{"utf8", crlf(cleanHeader + "Content-Type: text/plain; charset=utf-8\n\n" +
			"Grüße aus München! Ünïcödé WÖRTER, ŞİŞLİ İstanbul ıi, KELVIN \u212Aelvin, ſtraße, ΣΊΣΥΦΟΣ σίσυφος, " +
			"Привет мир, 日本語のテキスト, 한국어 텍스트, عربي نص, ١٢٣٤ ٥٦٧, ½¾ ²³ ⅫⅣ, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math, emoji 😀😀😀 smile😀face, " +
			"ﬁnance ligature, ǅungla titlecase, " + longCJK + " " + longMixed + " " + strings.Repeat("ж", 41) + " " + strings.Repeat("ж", 40) + "\n")},
		{"latin1", crlf(cleanHeader + "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n" +
			"Gr=FC=DFe aus M=FCnchen, caf=E9 cr=E8me br=FBl=E9e.\n")},
		{"invalid utf8", crlf(cleanHeader + "Content-Type: text/plain\n\nbroken \xff\xfebytes inside wo\xc3rds and \xe6\x97 trunc\xe6\x97\xa5ated " +
			"caf\xe9 \xed\xa0\x80surrogate " + strings.Repeat("\xe6\x97\xa5", 25) + "\x80tail\n")},
		{"encoded subject", crlf(replace("Subject", "=?utf-8?q?Gr=C3=BC=C3=9Fe_AUS_M=C3=9CNCHEN_HEUTE?=") + "\nbody\n")},
		{"caps subject", crlf(replace("Subject", "FREE MONEY WINNER NOW!!! $$$") + "\nWin $1,000,000 today\n")},
		{"broken encoded subject", crlf(replace("Subject", "=?bogus?q?abc?= =?utf-8?b?!!!?=") + "\nbody\n")},
		{"header tokens", crlf("From: \"Ann\" <ann@Example.NET>, bob@Other.example\nReply-To: <<bad>>\nReturn-Path: <bounce@Bounce.Example>\n" +
			"X-Mailer:   Some\t Mailer\n  Folded 1.0\nSubject: hi\n\nbody words\n")},
		{"forged from", crlf(replace("From", `"service@paypal.com" <billing@scam.example>`) + "\nPay now\n")},
		{"no from", crlf(without("From") + "\nbody\n")},
		{"auth results", crlf("Authentication-Results: mx.example.com; spf=fail smtp.mailfrom=x.example; dkim=fail (bad sig) header.d=x.example; dmarc=fail\n" +
			"Authentication-Results: other.example; spf=fail\n" + cleanHeader + "\nbody\n")},
		{"zip attachment", crlf(withAttachment(cleanHeader, "invoice.zip", "application/zip", zipOf(t, "doc/Invoice.PDF.exe", "readme.txt", "sub\\x.js", "dir/")))},
		{"exe attachment", crlf(withAttachment(cleanHeader, "C:\\temp\\Setup.EXE", "application/octet-stream", []byte("MZ")))},
		{"rfc822 attached", crlf(cleanHeader + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nouter text\n--b\n" +
			"Content-Type: message/rfc822; name=\"fwd.eml\"\n\nSubject: inner subject\nContent-Type: text/html\n\n<p>inner <a href=\"http://inner.example/\">html</a></p>\n--b--\n")},
		{"malformed params", crlf(cleanHeader + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/octet-stream; name=run.bat;;\n" +
			"Content-Disposition: attachment; filename*=bad''%%\n\nxx\n--b\nContent-Type: text\n\ninvalid type text\n--b--\n")},
		{"broken header", "From ann@example.net\r\nnot a header line\r\nSubject: x\r\n\r\nbody after broken header\r\n"},
		{"fuzz seed 3", crlf(cleanHeader + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\nSubject: x\n\n--b")},
		{"fuzz seed 4", "Authentication-Results: mx.example.com; spf=fail (x (y) \\) z; dkim=\n\n"},
		{"empty", ""},
		{"spammy", crlf("From: \"WINNER\" <win@casino.example>\nSubject: WIN MONEY NOW\n\ncheap pills casino winner prize offer http://10.0.0.1/claim\n")},
		{"hammy", crlf(cleanHeader + "\nplease review the notes for the quarterly meeting report\n")},
	}
}

// pinClassifier returns a classifier trained on a fixed corpus.
func pinClassifier(t testing.TB) *Classifier {
	ctx := context.Background()
	c := NewClassifier(NewMemoryTokenStore())
	for i := range 25 {
		spamText := "Subject: WIN MONEY NOW\r\n\r\ncheap pills casino winner prize http://10.0.0.1/ " + strings.Repeat("offer ", i%5+1)
		hamText := "Subject: meeting\r\n\r\nplease review the notes for the quarterly meeting Friday " + strings.Repeat("report ", i%5+1)
		if err := c.Train(ctx, strings.NewReader(spamText), true); err != nil {
			t.Fatal(err)
		}
		if err := c.Train(ctx, strings.NewReader(hamText), false); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// pinned compares got with the JSON in testdata/name, or writes it there
// with -update-pins.
func pinned(t *testing.T, name string, got any) {
	t.Helper()
	data, err := json.MarshalIndent(got, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, '\n')
	file := filepath.Join("testdata", name)
	if *updatePins {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(data) {
		t.Errorf("%s differs from the pinned output; diff it with:\n%s", file, data)
	}
}

// TestTokensPinned pins the tokenizer's output: the tokens are stored in
// the database, so the same message must keep giving the same tokens.
func TestTokensPinned(t *testing.T) {
	got := map[string][]string{}
	for _, c := range pinCorpus(t) {
		msg := newTestMessage(c.Raw)
		got[c.Name] = tokenize(parseMessage(context.Background(), msg.Header, msg.Open))
	}
	pinned(t, "tokens.json", got)
}

// pinLines describes in lines, with strings quoted (JSON would hide broken
// UTF-8), what is pinned of the filter's work on a message.
func pinLines(res *Result, v filters.Verdict, pm *parsedMessage) []string {
	l := []string{fmt.Sprintf("score %v bayes %v", res.Score, res.Bayes)}
	for _, h := range res.Hits {
		l = append(l, fmt.Sprintf("hit %q %v %q", h.Rule, h.Score, h.Detail))
	}
	for _, c := range res.Clues {
		l = append(l, fmt.Sprintf("clue %q %v %d %d", c.Token, c.Prob, c.Spam, c.Ham))
	}
	l = append(l, fmt.Sprintf("verdict %v %d %v %q", v.Action, v.Code, v.EnhancedCode, v.Reason))
	for _, h := range v.AddHeaders {
		l = append(l, fmt.Sprintf("add %q %q", h.Key, h.Value))
	}
	l = append(l, fmt.Sprintf("remove %q", v.RemoveHeaders))
	for _, e := range v.Evidence {
		l = append(l, fmt.Sprintf("evidence %q %q %q %v", e.Filter, e.Result, e.Detail, e.Score))
	}
	for _, k := range pm.Links {
		l = append(l, fmt.Sprintf("link %q %q %q", k.Href, k.Host, k.Text))
	}
	for _, a := range pm.Attachments {
		l = append(l, fmt.Sprintf("attachment %q", a.Name))
	}
	for _, t := range pm.Texts {
		l = append(l, fmt.Sprintf("text %q", t))
	}
	l = append(l, fmt.Sprintf("media %q parts %d truncated %v html %v plain %v subject %q",
		pm.MediaTypes, pm.Parts, pm.Truncated, pm.HasHTML, pm.HasPlain, pm.Subject))
	return l
}

// TestVerdictsPinned pins scores, rules, clues, header fields and what the
// parser finds.
func TestVerdictsPinned(t *testing.T) {
	ctx := context.Background()
	f := New(Options{Classifier: pinClassifier(t), RejectScore: 15})
	got := map[string][]string{}
	for _, c := range pinCorpus(t) {
		res, err := f.Score(ctx, newTestMessage(c.Raw))
		if err != nil {
			t.Fatal(err)
		}
		v, err := f.Check(ctx, newTestMessage(c.Raw))
		if err != nil {
			t.Fatal(err)
		}
		msg := newTestMessage(c.Raw)
		got[c.Name] = pinLines(res, v, parseMessage(ctx, msg.Header, msg.Open))
	}
	pinned(t, "verdicts.json", got)
}
