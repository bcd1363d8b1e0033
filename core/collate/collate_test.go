package collate

import "testing"

func TestUnicodeCasemap(t *testing.T) {
	equal := [][2]string{
		{"abc", "ABC"},
		{"Hello World", "hELLO wORLD"},
		{"café", "CAFÉ"},
		{"cafe\u0301", "CAFÉ"},
		{"ＡＢＣ", "abc"},
		{"ǆ", "ǅ"},
		{"ﬁle", "FILE"},
		{"\xff", "\uFFFD"},
	}
	for _, p := range equal {
		if UnicodeCasemap(p[0]) != UnicodeCasemap(p[1]) || CompareUnicodeCasemap(p[0], p[1]) != 0 {
			t.Errorf("%q and %q differ: %q %q", p[0], p[1], UnicodeCasemap(p[0]), UnicodeCasemap(p[1]))
		}
	}
	less := [][2]string{
		{"", "a"},
		{"a", "B"},
		{"apple", "Banana"},
		{"é", "Z"},
		{"E", "é"},
	}
	for _, p := range less {
		if CompareUnicodeCasemap(p[0], p[1]) >= 0 || CompareUnicodeCasemap(p[1], p[0]) <= 0 {
			t.Errorf("%q should sort before %q", p[0], p[1])
		}
	}
}
