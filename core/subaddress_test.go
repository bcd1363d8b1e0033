package core

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSplitSubaddress(t *testing.T) {
	tests := []struct {
		local, delims string
		want          []SubaddressSplit
	}{
		{"ann", "+", nil},
		{"ann+news", "", nil},
		{"ann+news", "+", []SubaddressSplit{{"ann", Subaddress{"+", "news"}}}},
		{"ann+", "+", []SubaddressSplit{{"ann", Subaddress{"+", ""}}}},
		{"+news", "+", nil},
		{"ann.+x", "+", nil},
		{`"ann+x"`, "+", nil},
		{"ann+a+b", "+", []SubaddressSplit{{"ann+a", Subaddress{"+", "b"}}, {"ann", Subaddress{"+", "a+b"}}}},
		{"ann-smith+x", "+-", []SubaddressSplit{{"ann-smith", Subaddress{"+", "x"}}, {"ann", Subaddress{"-", "smith+x"}}}},
		{"用户+x", "+", []SubaddressSplit{{"用户", Subaddress{"+", "x"}}}},
	}
	for _, tt := range tests {
		if got := SplitSubaddress(tt.local, tt.delims); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitSubaddress(%q, %q) = %v, want %v", tt.local, tt.delims, got, tt.want)
		}
	}
}

func TestSubaddressApply(t *testing.T) {
	tests := []struct {
		sub  Subaddress
		addr string
		want string
	}{
		{Subaddress{}, "ann@example.com", "ann@example.com"},
		{Subaddress{"+", "news"}, "ann@example.com", "ann+news@example.com"},
		{Subaddress{"-", ""}, "ann@example.com", "ann-@example.com"},
		{Subaddress{"+", "x"}, `"a b"@example.com`, `"a b"@example.com`},
	}
	for _, tt := range tests {
		if got := tt.sub.Apply(tt.addr); got != tt.want {
			t.Errorf("%+v.Apply(%q) = %q, want %q", tt.sub, tt.addr, got, tt.want)
		}
	}
}

func TestCheckSubaddressDelimiters(t *testing.T) {
	for _, ok := range []string{"", "+", "+-", "-_=", "~"} {
		if err := CheckSubaddressDelimiters(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"a", "Z", "0", ".", "@", " ", "++", "+é", `"`, "(", ","} {
		if err := CheckSubaddressDelimiters(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: got %v, want ErrInvalid", bad, err)
		}
	}
}

// FuzzSplitSubaddress: every reading puts the local part back together,
// splits at a delimiter of the set, has a user, and comes longest first.
func FuzzSplitSubaddress(f *testing.F) {
	for _, s := range [][2]string{{"ann+news", "+"}, {"ann-smith+x", "+-"}, {"+x", "+"}, {"a.+b", "+"}, {`"a+b"`, "+"}, {"用户+x", "+"}, {"a++", "+"}, {"ann", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, local, delims string) {
		prev := len(local) + 1
		for _, sp := range SplitSubaddress(local, delims) {
			if sp.User+sp.Delimiter+sp.Detail != local {
				t.Fatalf("%q split as %+v", local, sp)
			}
			if sp.User == "" || len(sp.Delimiter) != 1 || !strings.Contains(delims, sp.Delimiter) {
				t.Fatalf("%q, %q: bad split %+v", local, delims, sp)
			}
			if len(sp.User) >= prev {
				t.Fatalf("%q: splits not longest user first", local)
			}
			prev = len(sp.User)
		}
	})
}
