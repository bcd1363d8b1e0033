package mailstore

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/yubinmail/yubin/core"
)

const dkimTestMessage = "From: ann@example.com\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nHello\r\n"

// dkimVerify signs dkimTestMessage with domain's keys and verifies every
// signature against Records, as a receiver would.
func dkimVerify(t *testing.T, k *DKIMKeys, domain string) {
	t.Helper()
	signers, sels, err := k.Signers(domain)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(dkimTestMessage)
	for i, signer := range signers {
		var b bytes.Buffer
		err := dkim.Sign(&b, bytes.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: sels[i], Signer: signer, HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed})
		if err != nil {
			t.Fatal(err)
		}
		msg = b.Bytes()
	}
	records, err := k.Records(domain)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		sel, ok := strings.CutSuffix(name, "._domainkey."+domain)
		if rec, found := records[sel]; ok && found {
			return []string{rec}, nil
		}
		return nil, errors.New("no such record: " + name)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != len(signers) {
		t.Fatalf("%d verifications of %d signatures", len(vs), len(signers))
	}
	for _, v := range vs {
		if v.Err != nil {
			t.Fatalf("signature by %s: %v", v.Domain, v.Err)
		}
	}
}

func TestDKIMKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dkim")
	k, err := NewDKIMKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC)
	k.now = func() time.Time { return now }

	if _, _, err := k.Signers("example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("signers before Ensure: %v", err)
	}
	if _, err := k.Ensure("../etc"); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("bad domain: %v", err)
	}
	sels, err := k.Ensure("Example.COM")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sels, []string{"yb202607r", "yb202607e"}) {
		t.Fatalf("selectors %v", sels)
	}
	// Files and permissions.
	for _, name := range []string{"yb202607r.rsa.pem", "yb202607e.ed25519.pem", "keys.json"} {
		fi, err := os.Stat(filepath.Join(dir, "example.com", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v", name, fi.Mode())
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "example.com")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("domain folder: %v %v", fi.Mode(), err)
	}
	signers, sels2, err := k.Signers("example.com")
	if err != nil || !slices.Equal(sels2, sels) {
		t.Fatalf("signers: %v %v", sels2, err)
	}
	if pub, ok := signers[0].Public().(*rsa.PublicKey); !ok || pub.N.BitLen() != DKIMRSABits {
		t.Fatalf("first signer %T", signers[0].Public())
	}
	if _, ok := signers[1].Public().(ed25519.PublicKey); !ok {
		t.Fatalf("second signer %T", signers[1].Public())
	}
	recs, err := k.Records("example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || !strings.HasPrefix(recs["yb202607r"], "v=DKIM1; k=rsa; p=") || !strings.HasPrefix(recs["yb202607e"], "v=DKIM1; k=ed25519; p=") {
		t.Fatalf("records %v", recs)
	}
	dkimVerify(t, k, "example.com")

	// Ensure again changes nothing.
	if again, err := k.Ensure("example.com"); err != nil || !slices.Equal(again, sels) {
		t.Fatalf("second Ensure: %v %v", again, err)
	}
	if r2, _ := k.Records("example.com"); r2["yb202607r"] != recs["yb202607r"] {
		t.Fatal("key regenerated")
	}

	// Reload from disk (a restart).
	k2, err := NewDKIMKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2.now = k.now
	if r2, err := k2.Records("example.com"); err != nil || !maps.Equal(r2, recs) {
		t.Fatalf("records after reload: %v %v", r2, err)
	}
	dkimVerify(t, k2, "example.com")

	// Rotate (twice in a month), seen by the other instance too.
	now = now.Add(24 * time.Hour)
	rot, err := k.Rotate("example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rot, []string{"yb202607r-2", "yb202607e-2"}) {
		t.Fatalf("rotated selectors %v", rot)
	}
	if _, s, _ := k2.Signers("example.com"); !slices.Equal(s, rot) {
		t.Fatalf("other instance signs with %v", s)
	}
	r3, err := k2.Records("example.com")
	if err != nil || len(r3) != 4 || r3["yb202607r"] != recs["yb202607r"] {
		t.Fatalf("records after rotation: %v %v", r3, err)
	}
	dkimVerify(t, k2, "example.com")

	// After the retention period the old keys are unpublished, then
	// deleted at the next Ensure.
	now = now.Add(DKIMRetention)
	if r4, _ := k.Records("example.com"); len(r4) != 2 || r4["yb202607r"] != "" {
		t.Fatalf("records after retention: %v", r4)
	}
	if _, err := k.Ensure("example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "example.com", "yb202607r.rsa.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("retired key kept: %v", err)
	}
	now = now.AddDate(0, 1, 0)
	if rot, err := k.Rotate("example.com"); err != nil || !slices.Equal(rot, []string{"yb202608r", "yb202608e"}) {
		t.Fatalf("next month: %v %v", rot, err)
	}

	if err := k.Remove("example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "example.com")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("folder kept: %v", err)
	}
	if _, err := k2.Records("example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("records after removal: %v", err)
	}
	if err := k.Remove("example.com"); err != nil {
		t.Fatal(err)
	}
}

func TestDKIMStrayKeyFile(t *testing.T) {
	dir := t.TempDir()
	k, err := NewDKIMKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	k.now = func() time.Time { return time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC) }
	// A key file left by a crash before keys.json was written.
	if err := os.MkdirAll(filepath.Join(dir, "example.net"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "example.net", "yb202601r.rsa.pem"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := k.Signers("example.net"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("stray key used: %v", err)
	}
	if sels, err := k.Ensure("example.net"); err != nil || sels[0] != "yb202601r" {
		t.Fatalf("ensure over a stray key: %v %v", sels, err)
	}
	dkimVerify(t, k, "example.net")
}
