package dkimkeys

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// writeKeyFiles writes a domain's keys as older versions kept them in
// dir/<domain>: one PEM file per key and keys.json. It returns the DNS
// records the keys have.
func writeKeyFiles(t *testing.T, dir, domain string, keys []fileKey) map[string]string {
	t.Helper()
	ddir := filepath.Join(dir, domain)
	if err := os.MkdirAll(ddir, 0o700); err != nil {
		t.Fatal(err)
	}
	var st fileState
	recs := map[string]string{}
	for _, fk := range keys {
		der, err := generate(fk.alg)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := parseKey(der, fk.alg)
		if recs[fk.sel], err = record(s.Public()); err != nil {
			t.Fatal(err)
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := os.WriteFile(filepath.Join(ddir, fk.sel+"."+fk.alg+".pem"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		st.Keys = append(st.Keys, struct {
			Selector  string     `json:"selector"`
			Algorithm string     `json:"algorithm"`
			CreatedAt time.Time  `json:"created_at"`
			RetiredAt *time.Time `json:"retired_at,omitempty"`
		}{fk.sel, fk.alg, fk.created, fk.retired})
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ddir, "keys.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return recs
}

type fileKey struct {
	sel, alg string
	created  time.Time
	retired  *time.Time
}

// TestImportKeyFiles: the key files of an older version (DATA/dkim) move
// into the database at the first start, sealed with the server key: the
// same selectors, the same keys (the published records stay right), the
// retired key still published; the files are gone afterwards; a second
// start has nothing to import.
func TestImportKeyFiles(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	dir := filepath.Join(data, "dkim")
	now := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	retired := now.Add(-24 * time.Hour)
	recs := writeKeyFiles(t, dir, "example.com", []fileKey{
		{"yb202601r", RSA, now.AddDate(0, -2, 0), &retired},
		{"yb202601e", Ed25519, now.AddDate(0, -2, 0), &retired},
		{"yb202603r", RSA, retired, nil},
		{"yb202603e", Ed25519, retired, nil},
	})
	orgRecs := writeKeyFiles(t, dir, "example.org", []fileKey{{"yb202512r", RSA, now.AddDate(0, -3, 0), nil}, {"yb202512e", Ed25519, now.AddDate(0, -3, 0), nil}})
	// A domain whose first keys were never finished (no keys.json).
	if err := os.MkdirAll(filepath.Join(dir, "example.net"), 0o700); err != nil {
		t.Fatal(err)
	}

	st := openStore(t, filepath.Join(data, "store"))
	sealer, err := blobcrypt.EphemeralSealer()
	if err != nil {
		t.Fatal(err)
	}
	k := openKeys(t, st, sealer, &now)
	// A domain that got keys in the database already (a CLI command of
	// this version ran first) keeps them.
	writeKeyFiles(t, dir, "example.info", []fileKey{{"yb202511r", RSA, now.AddDate(0, -4, 0), nil}})
	if _, err := k.Ensure(ctx, "example.info"); err != nil {
		t.Fatal(err)
	}
	infoRecs, err := k.Records(ctx, "example.info")
	if err != nil {
		t.Fatal(err)
	}
	n, err := k.Import(ctx, dir)
	if err != nil || n != 6 {
		t.Fatalf("imported %d keys, %v; want 6", n, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the key files are still there: %v", err)
	}
	for domain, want := range map[string]map[string]string{"example.com": recs, "example.org": orgRecs} {
		got, err := k.Records(ctx, domain)
		if err != nil || len(got) != len(want) {
			t.Fatalf("records of %s: %v %v", domain, got, err)
		}
		for sel, rec := range want {
			if got[sel] != rec {
				t.Errorf("record %s of %s changed in the import", sel, domain)
			}
		}
		verify(t, k, domain)
	}
	if got, err := k.Records(ctx, "example.info"); err != nil || !maps.Equal(got, infoRecs) {
		t.Fatalf("records of a domain with keys before the import: %v %v", got, err)
	}
	if _, sels, err := k.Signers(ctx, "example.com"); err != nil || !slices.Equal(sels, []string{"yb202603r", "yb202603e"}) {
		t.Fatalf("signing selectors %v, %v", sels, err)
	}
	var rs []keyRow
	if err := st.ReadDB(ctx).Find(&rs).Error; err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if !r.Sealed {
			t.Errorf("key %s of %s imported unsealed", r.Selector, r.Domain)
		}
		if _, err := x509.ParsePKCS8PrivateKey(r.Private); err == nil {
			t.Errorf("key %s of %s readable in the database", r.Selector, r.Domain)
		}
	}
	// The next start: nothing to import, the keys stay.
	if n, err := openKeys(t, st, sealer, &now).Import(ctx, dir); err != nil || n != 0 {
		t.Fatalf("second import: %d, %v", n, err)
	}
	if got, _ := k.Records(ctx, "example.com"); len(got) != 4 {
		t.Fatalf("records after the second start: %v", got)
	}
	// Rotation goes on from the imported keys.
	if sels, err := k.Rotate(ctx, "example.com"); err != nil || !slices.Equal(sels, []string{"yb202603r-2", "yb202603e-2"}) {
		t.Fatalf("rotate after the import: %v %v", sels, err)
	}
}

// TestImportDamagedKeyFile: a key file that cannot be read stops the
// import whole (nothing imported, nothing removed) with an error naming
// the domain: new keys its DNS does not have must not replace it.
func TestImportDamagedKeyFile(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	dir := filepath.Join(data, "dkim")
	now := time.Now().UTC()
	writeKeyFiles(t, dir, "example.com", []fileKey{{"yb202601r", RSA, now, nil}, {"yb202601e", Ed25519, now, nil}})
	writeKeyFiles(t, dir, "example.org", []fileKey{{"yb202601r", RSA, now, nil}})
	if err := os.WriteFile(filepath.Join(dir, "example.org", "yb202601r.rsa.pem"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, filepath.Join(data, "store"))
	k := openKeys(t, st, nil, nil)
	if n, err := k.Import(ctx, dir); err == nil || n != 0 || !strings.Contains(err.Error(), "example.org") {
		t.Fatalf("import of a damaged key: %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "example.com", "keys.json")); err != nil {
		t.Fatalf("key files removed after a failed import: %v", err)
	}
	var n int64
	if err := st.ReadDB(ctx).Model(&keyRow{}).Count(&n).Error; err != nil || n != 0 {
		t.Fatalf("%d keys imported (%v), want none", n, err)
	}
}
