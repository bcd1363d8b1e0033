package srs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var day0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func mustNew(t testing.TB, secrets ...string) *Rewriter {
	t.Helper()
	var bs [][]byte
	for _, s := range secrets {
		bs = append(bs, []byte(s))
	}
	r, err := New(bs...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestForwardAndReverse(t *testing.T) {
	r := mustNew(t, "secret one")
	a, err := r.Forward("Alice.Smith@example.org", "fwd.example", day0)
	if err != nil {
		t.Fatal(err)
	}
	local, dom, _ := strings.Cut(a, "@")
	if dom != "fwd.example" || !strings.HasPrefix(local, "SRS0=") || !strings.HasSuffix(local, "=example.org=Alice.Smith") {
		t.Fatalf("Forward = %q", a)
	}
	// SRS0=HHHH=TT=...
	if parts := strings.Split(local, "="); len(parts[1]) != 4 || len(parts[2]) != 2 {
		t.Fatalf("hash/timestamp of %q", a)
	}
	for _, in := range []string{local, strings.ToLower(local), strings.ToUpper(local[:5]) + local[5:]} {
		got, err := r.Reverse(in, day0.Add(20*24*time.Hour))
		if err != nil {
			t.Fatalf("Reverse(%q): %v", in, err)
		}
		if !strings.EqualFold(got, "Alice.Smith@example.org") {
			t.Fatalf("Reverse(%q) = %q", in, got)
		}
	}
	if _, err := r.Reverse(local, day0.Add(23*24*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("after 23 days: %v, want ErrExpired", err)
	}
	if _, err := r.Reverse(local, day0.Add(-24*time.Hour)); err != nil {
		t.Fatalf("a day of clock skew: %v", err)
	}
}

func TestReverseRefuses(t *testing.T) {
	r := mustNew(t, "secret one")
	a, _ := r.Forward("alice@example.org", "fwd.example", day0)
	local, _, _ := strings.Cut(a, "@")
	other := mustNew(t, "another secret")
	tests := []struct {
		name  string
		local string
		want  error
	}{
		{"plain", "alice", ErrNotSRS},
		{"other tag", "SRS2=abcd=AB=example.org=alice", ErrNotSRS},
		{"too few fields", "SRS0=abcd=AB=example.org", ErrMalformed},
		{"long timestamp", "SRS0=abcd=ABC=example.org=alice", ErrMalformed},
		{"wrong hash", "SRS0=abcd" + local[9:], ErrForged},
		{"changed user", local[:len(local)-5] + "mallory", ErrForged},
		{"changed domain", strings.Replace(local, "example.org", "evil.example", 1), ErrForged},
		{"srs1 forged", "SRS1=abcd=other.example==abcd=AB=example.org=alice", ErrForged},
		{"srs1 short", "SRS1=abcd=other.example", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := r.Reverse(tt.local, day0); !errors.Is(err, tt.want) {
				t.Fatalf("Reverse(%q) = %v, want %v", tt.local, err, tt.want)
			}
		})
	}
	if _, err := other.Reverse(local, day0); !errors.Is(err, ErrForged) {
		t.Fatalf("another forwarder's secret: %v", err)
	}
}

func TestRotation(t *testing.T) {
	old := mustNew(t, "old")
	a, _ := old.Forward("alice@example.org", "fwd.example", day0)
	local, _, _ := strings.Cut(a, "@")
	rotated := mustNew(t, "new", "old")
	if got, err := rotated.Reverse(local, day0); err != nil || got != "alice@example.org" {
		t.Fatalf("old address after rotation: %q, %v", got, err)
	}
	b, _ := rotated.Forward("alice@example.org", "fwd.example", day0)
	if b == a {
		t.Fatal("rotation did not change the signing secret")
	}
	if _, err := old.Reverse(strings.Split(b, "@")[0], day0); !errors.Is(err, ErrForged) {
		t.Fatalf("new address under the old secret only: %v", err)
	}
}

func TestSRS1(t *testing.T) {
	first := mustNew(t, "first secret")
	second := mustNew(t, "second secret")
	third := mustNew(t, "third secret")
	a0, _ := first.Forward("alice@example.org", "first.example", day0)
	a1, err := second.Forward(a0, "second.example", day0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a1, "SRS1=") || !strings.HasSuffix(a1, "@second.example") || !strings.Contains(a1, "=first.example==") {
		t.Fatalf("SRS1 = %q", a1)
	}
	// A third hop keeps pointing at the first forwarder.
	a2, _ := third.Forward(a1, "third.example", day0)
	if !strings.HasPrefix(a2, "SRS1=") || !strings.Contains(a2, "=first.example==") || !strings.HasSuffix(a2, "@third.example") {
		t.Fatalf("SRS1 at the third hop = %q", a2)
	}
	back, err := third.Reverse(strings.Split(a2, "@")[0], day0)
	if err != nil || back != a0 {
		t.Fatalf("third.Reverse = %q, %v; want %q", back, err, a0)
	}
	back, err = second.Reverse(strings.Split(a1, "@")[0], day0)
	if err != nil || back != a0 {
		t.Fatalf("second.Reverse = %q, %v; want %q", back, err, a0)
	}
	orig, err := first.Reverse(strings.Split(back, "@")[0], day0)
	if err != nil || orig != "alice@example.org" {
		t.Fatalf("first.Reverse = %q, %v", orig, err)
	}
}

func TestForwardKeeps(t *testing.T) {
	r := mustNew(t, "s")
	for _, s := range []string{"", "bob@fwd.example", "bob@FWD.example"} {
		if got, err := r.Forward(s, "fwd.example", day0); err != nil || got != s {
			t.Errorf("Forward(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := r.Forward("nodomain", "fwd.example", day0); err == nil {
		t.Error("Forward of an address without domain: no error")
	}
}

func TestLoadSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srs.key")
	s1, err := LoadSecrets(path)
	if err != nil || len(s1) != 1 || len(s1[0]) < 32 {
		t.Fatalf("new file: %q, %v", s1, err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	s2, err := LoadSecrets(path)
	if err != nil || string(s2[0]) != string(s1[0]) {
		t.Fatalf("read again: %q, %v", s2, err)
	}
	if err := os.WriteFile(path, []byte("# rotated\nnewer\n\n"+string(s1[0])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s3, err := LoadSecrets(path)
	if err != nil || len(s3) != 2 || string(s3[0]) != "newer" {
		t.Fatalf("rotated: %q, %v", s3, err)
	}
	if err := os.WriteFile(path, []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecrets(path); err == nil {
		t.Fatal("a file without secrets: no error")
	}
}

func FuzzReverse(f *testing.F) {
	r := mustNew(f, "fuzz")
	a, _ := r.Forward("alice@example.org", "fwd.example", day0)
	b, _ := r.Forward("SRS0=abcd=AB=x.example=y@other.example", "fwd.example", day0)
	for _, s := range []string{strings.Split(a, "@")[0], strings.Split(b, "@")[0], "SRS0=", "SRS1====", "srs0=a=b=c=d", "SRS0+abcd+AB+d+l"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, local string) {
		got, err := r.Reverse(local, day0)
		if err == nil && !strings.Contains(got, "@") {
			t.Fatalf("Reverse(%q) = %q without error", local, got)
		}
	})
}
