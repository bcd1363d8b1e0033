package importer

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

func FuzzParseMbox(f *testing.F) {
	for _, seed := range []string{
		"",
		"From a@b Mon Feb  3 04:05:06 2020\nSubject: x\n\nbody\n",
		"From a@b Mon Feb  3 04:05:06 2020\r\nStatus: RO\r\nX-Status: AFTD\r\n\r\n>From x\r\n\r\nFrom c Tue Mar  4 05:06:07 -0700 2021\r\n\r\n",
		"junk before\n\nFrom x\nFrom y\n\nFrom z\n>>>From q",
		"From " + strings.Repeat("x", maxMboxLine+10) + "\nbody\n\nFrom b\n",
		"From a\n" + strings.Repeat("y", maxMboxLine*2) + "\n\nFrom b Mon Feb  3 04:05:06 2020\nX-Keywords: a,b c\n\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var entries []MboxEntry
		err := ParseMbox(iotest.HalfReader(strings.NewReader(in)), func(e *MboxEntry) error {
			c := *e
			c.Raw = bytes.Clone(e.Raw)
			entries = append(entries, c)
			return nil
		})
		if err != nil {
			t.Fatalf("ParseMbox: %v", err)
		}
		last := int64(-1)
		for _, e := range entries {
			if e.Offset <= last || e.Offset >= int64(len(in)) || !strings.HasPrefix(in[e.Offset:], "From ") {
				t.Fatalf("entry at offset %d of %d does not start a From line", e.Offset, len(in))
			}
			last = e.Offset
			if int64(len(e.Raw)) > int64(len(in))-e.Offset {
				t.Fatalf("entry at %d longer than the rest of the input", e.Offset)
			}
			// Reading again from the entry's offset gives the same entry
			// (what an import that resumes does).
			var again *MboxEntry
			_ = ParseMbox(strings.NewReader(in[e.Offset:]), func(x *MboxEntry) error {
				c := *x
				c.Raw = bytes.Clone(x.Raw)
				again = &c
				return errStopMbox
			})
			if again == nil || !bytes.Equal(again.Raw, e.Raw) || again.FromLine != e.FromLine {
				t.Fatalf("entry at %d reads differently from its offset", e.Offset)
			}
			m := MboxMessage(&e)
			if bytes.Contains(bytes.ReplaceAll(m.Body, []byte("\r\n"), nil), []byte("\n")) {
				t.Fatalf("bare LF in %q", m.Body)
			}
			if len(m.Body) < len(e.Raw)-bytes.Count(e.Raw, []byte(">From ")) {
				t.Fatalf("message shorter than its entry: %q from %q", m.Body, e.Raw)
			}
		}
	})
}

func FuzzParseMaildirName(f *testing.F) {
	for _, seed := range []string{
		"1600000000.M1P1.host,S=80:2,RS",
		"1600000000.M1P1.host",
		"x:2,",
		"x:2,abcFDTPRSz",
		"x:1,S",
		"a:b:2,S",
		":2,S",
	} {
		f.Add(seed, "0 $Important\n1 work\n25 last\n26 out of range\n-1 no\nbad\n")
	}
	f.Fuzz(func(t *testing.T, name, keywords string) {
		kw := ParseDovecotKeywords(strings.NewReader(keywords))
		if len(kw) != 26 {
			t.Fatalf("%d keyword slots", len(kw))
		}
		unique, flags := ParseMaildirName(name, kw)
		if !strings.HasPrefix(name, unique) {
			t.Fatalf("unique %q is not a prefix of %q", unique, name)
		}
		seen := map[string]bool{}
		for _, fl := range flags {
			if fl == "" || seen[fl] {
				t.Fatalf("empty or repeated flag in %q", flags)
			}
			seen[fl] = true
		}
		_ = importableFlags(flags)
		if d := decodeMUTF7(name); !utf8.ValidString(d) && utf8.ValidString(name) {
			t.Fatalf("decodeMUTF7(%q) = %q, not UTF-8", name, d)
		}
	})
}
