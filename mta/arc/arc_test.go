package arc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/testpeer"
)

// testKey is an RSA key published as sel._domainkey.fwd.example.
type testKey struct {
	key    *rsa.PrivateKey
	domain string
	sel    string
}

func newKey(t testing.TB, domain, sel string) testKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{k, domain, sel}
}

func (k testKey) record() string {
	der, _ := x509.MarshalPKIXPublicKey(&k.key.PublicKey)
	return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
}

type zone map[string]string

func (z zone) lookup(_ context.Context, name string) ([]string, error) {
	if v, ok := z[strings.TrimSuffix(name, ".")+"."]; ok {
		return []string{v}, nil
	}
	return nil, errors.New("no such record")
}

const plain = "From: Alice <alice@example.org>\r\nTo: list@fwd.example\r\nSubject: Hello  there\r\n" +
	"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nHello,\r\n\r\n  a body  with\tspaces \r\n\r\n\r\n"

func seal(t *testing.T, msg string, k testKey, chain Result) string {
	t.Helper()
	set, err := Seal([]byte(msg), SealOptions{Domain: k.domain, Selector: k.sel, Signer: k.key,
		AuthResults: "mx.fwd.example; spf=pass smtp.mailfrom=example.org; dkim=none", Chain: chain})
	if err != nil {
		t.Fatal(err)
	}
	return set + msg
}

func TestSealVerify(t *testing.T) {
	k1 := newKey(t, "fwd.example", "s1")
	k2 := newKey(t, "second.example", "s2")
	z := zone{"s1._domainkey.fwd.example.": k1.record(), "s2._domainkey.second.example.": k2.record()}
	ctx := context.Background()

	if r, err := Verify(ctx, []byte(plain), z.lookup); r != None || err != nil {
		t.Fatalf("no chain: %v, %v", r, err)
	}
	one := seal(t, plain, k1, None)
	if !strings.HasPrefix(one, "ARC-Seal: i=1; a=rsa-sha256; t=") || !strings.Contains(one, "cv=none") || !strings.Contains(one, "arc=none") {
		t.Fatalf("first set:\n%s", one[:600])
	}
	if r, err := Verify(ctx, []byte(one), z.lookup); r != Pass {
		t.Fatalf("one set: %v, %v", r, err)
	}
	// A second hop, adding a field on top as it forwards.
	hop := "Received: from mx.fwd.example by mx.second.example\r\n" + one
	two := seal(t, hop, k2, Pass)
	if !strings.Contains(two, "ARC-Seal: i=2;") || !strings.Contains(two, "cv=pass") {
		t.Fatalf("second set:\n%s", two[:600])
	}
	if r, err := Verify(ctx, []byte(two), z.lookup); r != Pass {
		t.Fatalf("two sets: %v, %v", r, err)
	}

	for name, bad := range map[string]string{
		"body changed":          strings.Replace(two, "a body", "A body", 1),
		"signed field changed":  strings.Replace(two, "Subject: Hello", "Subject: Hallo", 1),
		"first seal changed":    strings.Replace(two, "; cv=none", ";   cv=none", 1),
		"set missing":           dropField(two, "ARC-Message-Signature: i=1"),
		"key unknown":           strings.Replace(two, "s=s2", "s=s3", 1),
		"aar of first replaced": strings.Replace(two, "i=1; mx.fwd.example; spf=pass", "i=1; mx.fwd.example; spf=fail", 1),
	} {
		r, err := Verify(ctx, []byte(bad), z.lookup)
		if name == "first seal changed" {
			// Whitespace inside a field does not matter to relaxed
			// canonicalisation: still a pass.
			if r != Pass {
				t.Errorf("%s: %v, %v", name, r, err)
			}
			continue
		}
		if r != Fail {
			t.Errorf("%s: %v, want fail", name, r)
		}
	}
}

func dropField(msg, prefix string) string {
	i := strings.Index(msg, prefix)
	j := i + 1
	for {
		n := strings.Index(msg[j:], "\r\n")
		j += n + 2
		if msg[j] != ' ' && msg[j] != '\t' {
			break
		}
	}
	return msg[:i] + msg[j:]
}

func TestSealEndsChain(t *testing.T) {
	k := newKey(t, "fwd.example", "s1")
	failed := strings.Replace(seal(t, plain, k, None), "cv=none", "cv=fail", 1)
	if _, err := Seal([]byte(failed), SealOptions{Domain: "fwd.example", Selector: "s1", Signer: k.key, Chain: Fail}); !errors.Is(err, ErrChainEnded) {
		t.Fatalf("after cv=fail: %v", err)
	}
	// A chain that does not verify gets a set with cv=fail.
	msg := seal(t, plain, k, None)
	set, err := Seal([]byte(msg), SealOptions{Domain: "fwd.example", Selector: "s1", Signer: k.key, Chain: None})
	if err != nil || !strings.Contains(set, "cv=fail") {
		t.Fatalf("second set without a verified chain: %v\n%s", err, set)
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"\r\n\r\n", ""},
		{"a  b \t c  \r\n", "a b c\r\n"},
		{"a\r\n\r\nb\r\n\r\n\r\n", "a\r\n\r\nb\r\n"},
		{"no final crlf", "no final crlf\r\n"},
		{" \r\nx", "\r\nx\r\n"},
	}
	for _, tt := range tests {
		if got := string(relaxedBody([]byte(tt.in))); got != tt.want {
			t.Errorf("relaxedBody(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := relaxedHeader("SubJect :  Hello\r\n\t  there  \r\n"); got != "subject:Hello there\r\n" {
		t.Errorf("relaxedHeader = %q", got)
	}
	if got := stripSig("X: i=1; bh=abc; b=dead\r\n beef; t=1\r\n"); got != "X: i=1; bh=abc; b=; t=1\r\n" {
		t.Errorf("stripSig = %q", got)
	}
	if got := stripSig("X: i=1; bh=abc; b=dead\r\n beef\r\n"); got != "X: i=1; bh=abc; b=\r\n" {
		t.Errorf("stripSig at the end = %q", got)
	}
}

// dkimpy runs Debian's python3-dkim verifier on msg with the keys of z.
func dkimpy(t *testing.T, z zone, msg string) string {
	t.Helper()
	return testpeer.VerifyDKIMARC(t, z, msg)
}

func TestDkimpyVerifiesOurChain(t *testing.T) {
	k1 := newKey(t, "fwd.example", "s1")
	k2 := newKey(t, "second.example", "s2")
	z := zone{"s1._domainkey.fwd.example.": k1.record(), "s2._domainkey.second.example.": k2.record()}
	one := seal(t, plain, k1, None)
	if out := dkimpy(t, z, one); !strings.Contains(out, "arc=pass") {
		t.Fatalf("dkimpy on one set: %s", out)
	}
	two := seal(t, "Received: by second\r\n"+one, k2, Pass)
	if out := dkimpy(t, z, two); !strings.Contains(out, "arc=pass") {
		t.Fatalf("dkimpy on two sets: %s", out)
	}
	if out := dkimpy(t, z, strings.Replace(two, "a body", "A body", 1)); !strings.Contains(out, "arc=fail") {
		t.Fatalf("dkimpy on a changed body: %s", out)
	}
}

func TestDkimpyChainVerifiesHere(t *testing.T) {
	// A chain dkimpy's arcsign started: Verify must pass it.
	k := newKey(t, "py.example", "py")
	z := zone{"py._domainkey.py.example.": k.record()}
	if err := exec.Command("/usr/bin/python3", "-c", "import dkim").Run(); err != nil {
		testpeer.Missing(t, "python3-dkim not installed (Debian package python3-dkim)")
	}
	der := x509.MarshalPKCS1PrivateKey(k.key)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k.der")
	if err := os.WriteFile(keyFile, der, 0o600); err != nil {
		t.Fatal(err)
	}
	script := `import sys, dkim
msg = sys.stdin.buffer.read()
key = open(sys.argv[1], "rb").read()
import base64
pem = b"-----BEGIN RSA PRIVATE KEY-----\n" + base64.encodebytes(key) + b"-----END RSA PRIVATE KEY-----\n"
sigs = dkim.arc_sign(msg, b"py", b"py.example", pem, b"mx.py.example", include_headers=[b"from", b"to", b"subject", b"date", b"message-id"], timestamp=str(int(__import__("time").time())).encode())
sys.stdout.buffer.write(b"".join(sigs) + msg)`
	msg := "Authentication-Results: mx.py.example; spf=pass smtp.mailfrom=example.org\r\n" + plain
	cmd := exec.Command("/usr/bin/python3", "-c", script, keyFile)
	cmd.Stdin = strings.NewReader(msg)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("arc_sign: %v", err)
	}
	if r, err := Verify(context.Background(), out, z.lookup); r != Pass {
		t.Fatalf("Verify of dkimpy's set: %v, %v\n%s", r, err, out)
	}
	_ = time.Now
}

func FuzzVerify(f *testing.F) {
	k := newKey(f, "fwd.example", "s1")
	z := zone{"s1._domainkey.fwd.example.": k.record()}
	set, _ := Seal([]byte(plain), SealOptions{Domain: "fwd.example", Selector: "s1", Signer: k.key, AuthResults: "mx; none"})
	for _, s := range []string{plain, set + plain, "ARC-Seal: i=1\r\n\r\n", "ARC-Seal: i=x; b=;\r\nARC-Seal: i=1", "\r\n\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		r, _ := Verify(context.Background(), []byte(msg), z.lookup)
		if r != None && r != Pass && r != Fail {
			t.Fatalf("result %q", r)
		}
		_, _ = Seal([]byte(msg), SealOptions{Domain: "fwd.example", Selector: "s1", Signer: k.key, Chain: r})
	})
}
