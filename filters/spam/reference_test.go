package spam

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// This file keeps the original, straightforward implementations of the
// URL finder and of the word tokenizer, which the faster ones replaced, and
// checks that both give the same results (tokens are stored in the
// database, so the tokenizer must not change).

// refURLRe is the regular expression the URL scanner implements.
var refURLRe = regexp.MustCompile(`(?i)\b(?:https?|ftp)://(?:\[[0-9a-f:.]+\]|[^\s<>"'()\[\]{}/])[^\s<>"'()\[\]{}]*`)

// refWords returns the tokens the original tokenizer added for the words of
// s, each once, in order.
func refWords(s string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(t string) {
		if t == "" {
			return
		}
		t = strings.ToValidUTF8(t, "\uFFFD")
		if len(t) > 64 {
			t = t[:60]
			for !utf8.ValidString(t) {
				t = t[:len(t)-1]
			}
			t += "..."
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	word := func(w string) {
		n := utf8.RuneCountInString(w)
		if n >= minWordLen && n <= maxWordLen {
			add(strings.ToLower(w))
		}
	}
	for w := range strings.FieldsFuncSeq(s, func(r rune) bool { return !isWordRune(r) }) {
		w = strings.Trim(w, "'")
		cjk := false
		for _, r := range w {
			cjk = cjk || unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana) || r == 'ー' || r == 'ｰ' || r == '々'
		}
		if !cjk {
			word(w)
			continue
		}
		// Japanese and Chinese: bigrams of the CJK runs, words of the rest.
		type segment struct {
			cjk   bool
			runes []rune
		}
		var segs []segment
		for _, r := range norm.NFKC.String(w) {
			c := unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana) || r == 'ー' || r == '々'
			if len(segs) == 0 || segs[len(segs)-1].cjk != c {
				segs = append(segs, segment{cjk: c})
			}
			segs[len(segs)-1].runes = append(segs[len(segs)-1].runes, r)
		}
		for _, sg := range segs {
			switch {
			case !sg.cjk:
				for part := range strings.FieldsFuncSeq(strings.Trim(string(sg.runes), "'"), func(r rune) bool { return !isWordRune(r) }) {
					word(part)
				}
			case len(sg.runes) == 1:
				if unicode.Is(unicode.Han, sg.runes[0]) {
					add(string(sg.runes))
				}
			default:
				for i := 0; i+1 < len(sg.runes); i++ {
					add(string(sg.runes[i : i+2]))
				}
			}
		}
	}
	return out
}

// referenceInputs are texts for the comparisons, and the fuzzers' seeds.
var referenceInputs = []string{
	"",
	"Hello World, THE the The tHe café CAFÉ Ünïcödé ŞİŞLİ İstanbul ıi \u212Aelvin ſtraße ǅungla ﬁnance",
	"'quoted' ''' 'a' don't $100 $$$ 1,000,000 x1y2z3 under_score dash-word e-mail@example.com",
	strings.Repeat("x", 39) + " " + strings.Repeat("X", 40) + " " + strings.Repeat("x", 41) + " " + strings.Repeat("漢", 40) + " " + strings.Repeat("é", 33),
	"broken \xff\xfebytes wo\xc3rds \xe6\x97 trunc\xe6\x97\xa5ated caf\xe9 \xed\xa0\x80x " + strings.Repeat("\xe6\x97\xa5", 25) + "\x80tail\xc3",
	"ｶﾀｶﾅ ＦＵＬＬ　ＷＩＤＴＨ 株式会社ABCの請求書 今すぐ無料で登録！ 々 ー 東 x東y 'quoted日本' 漢字ｶﾅmix123",
	"Привет мир 日本語のテキスト 한국어 عربي ١٢٣٤ ½¾ ²³ ⅫⅣ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀😀😀 smile😀face \u00a0nbsp\u2028sep",
	"http://a.example https://B.Example:443/x HTTP://C.EXAMPLE/ ftp://ftp.example/file hTTpS://mixed.example/ <http://angle.example/>",
	"(https://paren.example/) \"http://quote.example\" 'http://single.example' http://[2001:db8::1]/v6 http://[zz]/bad http://[1.2.3.4 http://[]/",
	"http:///nohost xhttp://noboundary.example _http://u.example 9http://d.example éhttp://accent.example \xffhttp://inv.example",
	"https://trail.example/path. https://u.example/a?u=http://inner.example/ httpſ://longs.example/ HTTPſ://x httpſſ://y ftpſ://z",
	"http://x.example/{brace} http://y.example/[bracket] http://z.example/é/ü http://\xff.example/ h\ttp://split http://\n http://\v.x http://\u00a0x",
	"http://a\fb http://a\rb http://a\tb http://a b http://a<b http://a>b http://a\"b http://a'b http://a(b http://a)b http://a]b http://a}b",
	"http://https://x.example ftp://ftp://y.example http:// http:/x http:x ://x ::// :// http://x://y.example",
	"HtTp://[::1]:80/a [http://x.example] {http://y.example} http://[0a:FF:.]/ http://[G]/ http:////x",
	"<a href=\"http://x.example\">http://y.example</a>",
}

func checkURLs(t *testing.T, s string) {
	want := refURLRe.FindAllString(s, maxLinks)
	got := findURLs(s, maxLinks, nil)
	if !slices.Equal(got, want) {
		t.Errorf("findURLs(%q) = %q, want %q", s, got, want)
	}
}

func checkWords(t *testing.T, s string) {
	want := refWords(s)
	tk := tokenizer{seen: map[string]bool{}}
	tk.words(s)
	if !slices.Equal(tk.out, want) {
		t.Errorf("words(%q) = %q, want %q", s, tk.out, want)
	}
}

func TestURLsAsRegexp(t *testing.T) {
	for _, s := range referenceInputs {
		checkURLs(t, s)
	}
	long := strings.Repeat("http://x.example/ ", maxLinks+10)
	checkURLs(t, long)
}

func TestWordsAsBefore(t *testing.T) {
	for _, s := range referenceInputs {
		checkWords(t, s)
	}
}

// FuzzURLs checks that the URL scanner finds what the regular expression
// finds.
func FuzzURLs(f *testing.F) {
	for _, s := range referenceInputs {
		f.Add(s)
	}
	f.Fuzz(checkURLs)
}

// FuzzWords checks that the tokenizer's words are those of the original
// implementation.
func FuzzWords(f *testing.F) {
	for _, s := range referenceInputs {
		f.Add(s)
	}
	f.Fuzz(checkWords)
}

// findURLs returns the first n URLs nextURL finds in s, appended to dst, as
// refURLRe.FindAllString would.
func findURLs(s string, n int, dst []string) []string {
	for i := 0; len(dst) < n; {
		start, end := nextURL(s, i)
		if start < 0 {
			break
		}
		dst = append(dst, s[start:end])
		i = end
	}
	return dst
}

// TestAppendFixed checks appendFixed against fmt, which it replaced.
func TestAppendFixed(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 0.5, 0.05, 0.00005, 0.99995, 0.12345, -4.95, 4.95, 4.25, 4.35, 1e-300,
		-1.1102230246251565e-15, 123456789.987654321, 1e21, math.MaxFloat64, math.SmallestNonzeroFloat64,
		math.Inf(1), math.Inf(-1), math.NaN()} {
		for prec := 1; prec <= 4; prec++ {
			want := fmt.Sprintf("%.*f", prec, f)
			if got := string(appendFixed(nil, f, prec)); got != want {
				t.Errorf("appendFixed(%v, %d) = %q, want %q", f, prec, got, want)
			}
		}
	}
}
