package jwtkey

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/yubinmail/yubin/internal/testdb"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

func openStore(t *testing.T, dir string) *mailstore.Store {
	t.Helper()
	st, err := mailstore.Open(context.Background(), mailstore.Options{Dir: dir, Database: testdb.DSNIn(t, dir), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestLegacyFileIsTakenOverOnce(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	file := filepath.Join(dir, "api", "jwt.key")
	old := bytes.Repeat([]byte{7}, Size)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, old, 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := Load(context.Background(), st, nil, file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key, old) {
		t.Fatal("the key of the old file was not taken over: its sessions would end")
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the old key file is still there (%v)", err)
	}
	again, err := Load(context.Background(), st, nil, file, nil)
	if err != nil || !bytes.Equal(again, old) {
		t.Fatalf("second load: %v, same key %v", err, bytes.Equal(again, old))
	}
}

func TestNodesAgreeOnOneKey(t *testing.T) {
	// Two nodes (two stores on one database) start at once.
	dir := t.TempDir()
	stores := []*mailstore.Store{openStore(t, dir), openStore(t, dir)}
	keys := make([][]byte, len(stores))
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, st := range stores {
		wg.Go(func() {
			keys[i], errs[i] = Load(context.Background(), st, nil, filepath.Join(t.TempDir(), "jwt.key"), nil)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	if len(keys[0]) != Size || !bytes.Equal(keys[0], keys[1]) {
		t.Fatal("the nodes have different signing keys: tokens of one are refused by the other")
	}
}

func TestKeyIsSealedWithTheServerKey(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	sealer, err := blobcrypt.EphemeralSealer()
	if err != nil {
		t.Fatal(err)
	}
	key, err := Load(context.Background(), st, sealer, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var row keyRow
	if err := st.ReadDB(context.Background()).Take(&row).Error; err != nil {
		t.Fatal(err)
	}
	if !row.Sealed || bytes.Contains(row.Key, key) {
		t.Fatalf("the key is in the database in plain text (sealed %v)", row.Sealed)
	}
	again, err := Load(context.Background(), st, sealer, "", nil)
	if err != nil || !bytes.Equal(again, key) {
		t.Fatalf("reload: %v", err)
	}
	// Another server key: refused.
	other, err := blobcrypt.EphemeralSealer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(context.Background(), st, other, "", nil); err == nil {
		t.Fatal("a sealed key was read with another server key")
	}
	// No server key at all (a backup restored without it): a new key,
	// the old one's sessions end.
	fresh, err := Load(context.Background(), st, nil, "", quiet())
	if err != nil || len(fresh) != Size || bytes.Equal(fresh, key) {
		t.Fatalf("without the server key: %v, a new key %v", err, !bytes.Equal(fresh, key))
	}
	if again, err := Load(context.Background(), st, nil, "", nil); err != nil || !bytes.Equal(again, fresh) {
		t.Fatalf("the new key does not stay: %v", err)
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
