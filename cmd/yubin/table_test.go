package main

import (
	"strings"
	"testing"
)

func TestDisplayWidth(t *testing.T) {
	for s, want := range map[string]int{
		"": 0, "ann": 3, "山田 花子": 9, "ｱｲｳ": 3, "ＡＢ": 4, "é": 1, "e\u0301": 1, "カタカナ": 8, "한국어": 6,
	} {
		if got := displayWidth(s); got != want {
			t.Errorf("displayWidth(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestTableAlignsByDisplayWidth(t *testing.T) {
	tb := &table{}
	tb.row("ADDRESS", "NAME", "QUOTA")
	tb.row("ann@example.com", "山田 花子", "1G")
	tb.row("bob@example.com", "Bob", "0")
	var b strings.Builder
	if err := tb.write(&b); err != nil {
		t.Fatal(err)
	}
	want := "ADDRESS          NAME       QUOTA\n" +
		"ann@example.com  山田 花子  1G\n" +
		"bob@example.com  Bob        0\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}
