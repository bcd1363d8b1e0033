package dkimkeys

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

const testMessage = "From: ann@example.com\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nHello\r\n"

// openStore opens a mailstore in dir, closed when the test ends.
func openStore(t *testing.T, dir string) *mailstore.Store {
	t.Helper()
	st, err := mailstore.Open(context.Background(), mailstore.Options{Dir: dir, Database: mailstoretest.DSNIn(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// openKeys opens the keys in st, sealed with sealer (nil: none), on the
// clock now.
func openKeys(t *testing.T, st *mailstore.Store, sealer *blobcrypt.Sealer, now *time.Time) *Keys {
	t.Helper()
	k, err := Open(context.Background(), st, sealer)
	if err != nil {
		t.Fatal(err)
	}
	if now != nil {
		k.now = func() time.Time { return *now }
	}
	return k
}

// verify signs testMessage with domain's keys and verifies every
// signature against Records, as a receiver would.
func verify(t *testing.T, k *Keys, domain string) {
	t.Helper()
	ctx := context.Background()
	signers, sels, err := k.Signers(ctx, domain)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(testMessage)
	for i, signer := range signers {
		var b bytes.Buffer
		err := dkim.Sign(&b, bytes.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: sels[i], Signer: signer, HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed})
		if err != nil {
			t.Fatal(err)
		}
		msg = b.Bytes()
	}
	records, err := k.Records(ctx, domain)
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

func TestKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, dir)
	now := time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC)
	k := openKeys(t, st, nil, &now)

	if _, _, err := k.Signers(ctx, "example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("signers before Ensure: %v", err)
	}
	if _, err := k.Ensure(ctx, "../etc"); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("bad domain: %v", err)
	}
	sels, err := k.Ensure(ctx, "Example.COM")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sels, []string{"yb202607r", "yb202607e"}) {
		t.Fatalf("selectors %v", sels)
	}
	signers, sels2, err := k.Signers(ctx, "example.com")
	if err != nil || !slices.Equal(sels2, sels) {
		t.Fatalf("signers: %v %v", sels2, err)
	}
	if pub, ok := signers[0].Public().(*rsa.PublicKey); !ok || pub.N.BitLen() != RSABits {
		t.Fatalf("first signer %T", signers[0].Public())
	}
	if _, ok := signers[1].Public().(ed25519.PublicKey); !ok {
		t.Fatalf("second signer %T", signers[1].Public())
	}
	recs, err := k.Records(ctx, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || !strings.HasPrefix(recs["yb202607r"], "v=DKIM1; k=rsa; p=") || !strings.HasPrefix(recs["yb202607e"], "v=DKIM1; k=ed25519; p=") {
		t.Fatalf("records %v", recs)
	}
	verify(t, k, "example.com")

	// Ensure again changes nothing.
	if again, err := k.Ensure(ctx, "example.com"); err != nil || !slices.Equal(again, sels) {
		t.Fatalf("second Ensure: %v %v", again, err)
	}
	if r2, _ := k.Records(ctx, "example.com"); r2["yb202607r"] != recs["yb202607r"] {
		t.Fatal("key regenerated")
	}

	// Another instance on the same database (another process, a
	// restart) sees the same keys.
	k2 := openKeys(t, st, nil, &now)
	if r2, err := k2.Records(ctx, "example.com"); err != nil || !maps.Equal(r2, recs) {
		t.Fatalf("records of another instance: %v %v", r2, err)
	}
	verify(t, k2, "example.com")

	// Rotate (twice in a month), seen by the other instance too.
	now = now.Add(24 * time.Hour)
	rot, err := k.Rotate(ctx, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rot, []string{"yb202607r-2", "yb202607e-2"}) {
		t.Fatalf("rotated selectors %v", rot)
	}
	if _, s, _ := k2.Signers(ctx, "example.com"); !slices.Equal(s, rot) {
		t.Fatalf("other instance signs with %v", s)
	}
	r3, err := k2.Records(ctx, "example.com")
	if err != nil || len(r3) != 4 || r3["yb202607r"] != recs["yb202607r"] {
		t.Fatalf("records after rotation: %v %v", r3, err)
	}
	verify(t, k2, "example.com")

	// After the retention period the old keys are unpublished, then
	// deleted at the next Ensure.
	now = now.Add(Retention)
	if r4, _ := k.Records(ctx, "example.com"); len(r4) != 2 || r4["yb202607r"] != "" {
		t.Fatalf("records after retention: %v", r4)
	}
	if _, err := k.Ensure(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	var left int64
	if err := st.ReadDB(ctx).Model(&keyRow{}).Where("domain = ?", "example.com").Count(&left).Error; err != nil || left != 2 {
		t.Fatalf("%d keys kept after the retired ones' retention (%v), want 2", left, err)
	}
	now = now.AddDate(0, 1, 0)
	if rot, err := k.Rotate(ctx, "example.com"); err != nil || !slices.Equal(rot, []string{"yb202608r", "yb202608e"}) {
		t.Fatalf("next month: %v %v", rot, err)
	}

	if err := k.Remove(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := k2.Records(ctx, "example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("records after removal: %v", err)
	}
	if err := k.Remove(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
}

// TestKeysSealed: with a server key the private keys are stored sealed
// (not a byte of their DER in the database); a process without that key
// cannot read them, and Check says so.
func TestKeysSealed(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	sealer, err := blobcrypt.EphemeralSealer()
	if err != nil {
		t.Fatal(err)
	}
	k := openKeys(t, st, sealer, nil)
	if _, err := k.Ensure(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	verify(t, k, "example.com")
	var rs []keyRow
	if err := st.ReadDB(ctx).Find(&rs).Error; err != nil || len(rs) != 2 {
		t.Fatalf("rows %d, %v", len(rs), err)
	}
	for _, r := range rs {
		if !r.Sealed || !blobcrypt.IsSealed(r.Private) {
			t.Fatalf("key %s stored unsealed", r.Selector)
		}
		if _, err := parseKey(r.Private, r.Algorithm); err == nil {
			t.Fatalf("key %s readable without the server key", r.Selector)
		}
	}
	if err := k.Check(ctx); err != nil {
		t.Fatalf("Check with the server key: %v", err)
	}
	// Without the server key (a process started without it).
	plain := openKeys(t, st, nil, nil)
	if _, _, err := plain.Signers(ctx, "example.com"); err == nil {
		t.Fatal("sealed keys read without the server key")
	}
	if err := plain.Check(ctx); err == nil || !strings.Contains(err.Error(), "example.com") {
		t.Fatalf("Check without the server key: %v", err)
	}
	// A key sealed for one domain and selector is not taken for another's.
	rs[0].Domain, rs[0].ID = "example.org", 0
	k2 := openKeys(t, st, sealer, nil)
	if _, err := k2.signer(&rs[0]); err == nil {
		t.Fatal("a sealed key was accepted under another domain")
	}
}

// TestConcurrentEnsure: two processes making a new domain's keys at once
// end with one set.
func TestConcurrentEnsure(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st1, st2 := openStore(t, dir), openStore(t, dir)
	k1, k2 := openKeys(t, st1, nil, nil), openKeys(t, st2, nil, nil)
	got := make([][]string, 2)
	errs := make([]error, 2)
	done := make(chan struct{})
	go func() { got[1], errs[1] = k2.Ensure(ctx, "example.com"); close(done) }()
	got[0], errs[0] = k1.Ensure(ctx, "example.com")
	<-done
	if errs[0] != nil || errs[1] != nil || !slices.Equal(got[0], got[1]) {
		t.Fatalf("Ensure: %v %v / %v %v", got[0], errs[0], got[1], errs[1])
	}
	var n int64
	if err := st1.ReadDB(ctx).Model(&keyRow{}).Count(&n).Error; err != nil || n != 2 {
		t.Fatalf("%d keys (%v), want 2", n, err)
	}
}
