package mailstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/testdb"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

func newTestSealer(t testing.TB) (*blobcrypt.Sealer, string) {
	t.Helper()
	keyPath := filepath.Join(t.TempDir(), "server.key")
	if _, err := blobcrypt.GenerateKeyFile(keyPath); err != nil {
		t.Fatal(err)
	}
	s, err := blobcrypt.LoadServerKey(keyPath, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s, keyPath
}

func openStoreAt(t testing.TB, dir string, sealer *blobcrypt.Sealer) *Store {
	t.Helper()
	return openStoreMode(t, dir, sealer, 0)
}

// bodyModes are the two ways a body is kept: inline in the database (the
// default for small ones) and as a file (InlineMax -1).
var bodyModes = []struct {
	name      string
	inlineMax int
}{{"inline", 0}, {"files", -1}}

// openStoreMode is openStoreAt with Options.InlineMax.
func openStoreMode(t testing.TB, dir string, sealer *blobcrypt.Sealer, inlineMax int) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Dir: dir, Database: testdb.DSNIn(t, dir), Sealer: sealer, InlineMax: inlineMax})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testMessage(i int) string {
	return fmt.Sprintf("From: a@example.org\r\nSubject: note %d\r\n\r\nSECRET-MARKER-%06d %s\r\n", i, i, strings.Repeat("lorem ipsum ", i%50))
}

// deliverMany delivers n test messages to the INBOX of user, concurrently
// (so they share commits), and returns the bodies by UID order.
func deliverMany(t testing.TB, s *Store, userID int64, n int) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := s.Deliver(context.Background(), Delivery{Targets: []DeliveryTarget{{UserID: userID}}, Body: strings.NewReader(testMessage(i))})
			if err == nil {
				err = res[0].Err
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// checkAllReadable reads every INBOX message of user and checks it is one
// of the test messages, byte for byte, and that all n are there.
func checkAllReadable(t testing.TB, s *Store, userID int64, n int) {
	t.Helper()
	ctx := context.Background()
	inbox, err := s.GetMailbox(ctx, userID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.ListMessages(ctx, inbox.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n {
		t.Fatalf("%d messages, want %d", len(msgs), n)
	}
	seen := map[string]bool{}
	for i := range msgs {
		body := readBody(t, s, &msgs[i])
		var k int
		if _, err := fmt.Sscanf(body[strings.Index(body, "SECRET-MARKER-"):], "SECRET-MARKER-%06d", &k); err != nil {
			t.Fatalf("message %d: %q", msgs[i].UID, body)
		}
		if body != testMessage(k) {
			t.Fatalf("message %d differs from test message %d", msgs[i].UID, k)
		}
		if int64(len(body)) != msgs[i].Size {
			t.Fatalf("message %d: size %d, read %d", msgs[i].UID, msgs[i].Size, len(body))
		}
		seen[body] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages, want %d", len(seen), n)
	}
}

// plaintextStored counts the messages of user's INBOX whose body as
// stored (file or inline) contains marker.
func plaintextStored(t *testing.T, s *Store, userID int64, marker string) int {
	t.Helper()
	ctx := context.Background()
	inbox, err := s.GetMailbox(ctx, userID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.ListMessages(ctx, inbox.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if bytes.Contains(storedBytes(t, s, m.BlobKey), []byte(marker)) {
			n++
		}
	}
	return n
}

// grepBlobs returns the blob files containing marker.
func grepBlobs(t testing.TB, dir, marker string) []string {
	t.Helper()
	var hits []string
	filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(marker)) {
			hits = append(hits, p)
		}
		return nil
	})
	return hits
}

// TestSealedBodies: with a key every body is written sealed (no plaintext
// on disk), reads back byte for byte with its plaintext size, and a
// flipped byte anywhere, including in the first line, gives a read error
// rather than bytes.
func TestSealedBodies(t *testing.T) {
	for _, mode := range bodyModes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := context.Background()
			sealer, _ := newTestSealer(t)
			dir := t.TempDir()
			s := openStoreMode(t, dir, sealer, mode.inlineMax)
			defer s.Close()
			u := newTestUser(t, s, "ann@example.com")
			deliverMany(t, s, u.ID, 20)
			checkAllReadable(t, s, u.ID, 20)
			if hits := grepBlobs(t, dir, "SECRET-MARKER-"); len(hits) > 0 {
				t.Fatalf("plaintext on disk in %v", hits)
			}
			if n := plaintextStored(t, s, u.ID, "SECRET-MARKER-"); n > 0 {
				t.Fatalf("%d bodies stored in plaintext", n)
			}
			st, err := s.SealStatus(ctx)
			if err != nil || st.Bodies != 20 || st.Sealed != 20 || st.Plain != 0 {
				t.Fatalf("status %+v, %v", st, err)
			}
			fresh, err := s.GetUser(ctx, "ann@example.com")
			if err != nil {
				t.Fatal(err)
			}
			var want int64
			for i := range 20 {
				want += int64(len(testMessage(i)))
			}
			if fresh.UsedBytes != want {
				t.Fatalf("quota counts %d bytes, the plaintext is %d", fresh.UsedBytes, want)
			}

			inbox, _ := s.GetMailbox(ctx, u.ID, "INBOX")
			msgs, _ := s.ListMessages(ctx, inbox.ID, nil)
			for _, pos := range []int{0, 5, 23, 60, -20, -1} {
				m := msgs[0]
				orig := storedBytes(t, s, m.BlobKey)
				i := pos
				if i < 0 {
					i += len(orig)
				}
				bad := bytes.Clone(orig)
				bad[i] ^= 0x01
				setStoredBytes(t, s, m.BlobKey, bad)
				b, err := s.OpenMessage(ctx, &m)
				if err == nil {
					_, err = io.ReadAll(b)
					b.Close()
				}
				if !errors.Is(err, blobcrypt.ErrCorrupt) {
					t.Errorf("flip at %d: read error %v, want ErrCorrupt", pos, err)
				}
				setStoredBytes(t, s, m.BlobKey, orig)
			}
		})
	}
}

// TestSealExistingResumes: mail stored in plaintext stays readable once a
// key is set, is sealed by SealExisting, and an interrupted pass (cancelled
// after its first chunk, with a stale leftover of a killed one) is resumed
// by the next one; every message reads back byte for byte throughout.
func TestSealExistingResumes(t *testing.T) {
	for _, mode := range bodyModes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			s := openStoreMode(t, dir, nil, mode.inlineMax)
			u := newTestUser(t, s, "bob@example.com")
			n := sweepChunk + 120
			deliverMany(t, s, u.ID, n)
			if plaintextStored(t, s, u.ID, "SECRET-MARKER-") != n {
				t.Fatal("the test mail is not in plaintext to start with")
			}
			s.Close()

			sealer, _ := newTestSealer(t)
			s = openStoreMode(t, dir, sealer, mode.inlineMax)
			defer s.Close()
			checkAllReadable(t, s, u.ID, n) // plaintext bodies still read with a key set

			// A leftover of a killed pass, old enough to be removed.
			stale := filepath.Join(dir, "blobs", sealingDir, strings.Repeat("a", 32)+".123")
			os.MkdirAll(filepath.Dir(stale), 0o700)
			os.WriteFile(stale, []byte("half"), 0o600)
			old := time.Now().Add(-2 * staleSealing)
			os.Chtimes(stale, old, old)

			cctx, cancel := context.WithCancel(ctx)
			st, err := s.SealExisting(cctx, func(SealStatus) { cancel() })
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled pass: %+v, %v", st, err)
			}
			mid, _ := s.SealStatus(ctx)
			if mid.Sealed != sweepChunk || mid.Plain != n-sweepChunk {
				t.Fatalf("after the interrupted pass: %+v", mid)
			}
			checkAllReadable(t, s, u.ID, n)
			if _, err := os.Stat(stale); err == nil {
				t.Fatal("the stale leftover was not removed")
			}

			st, err = s.SealExisting(ctx, nil)
			if err != nil || st.Sealed != n || st.Plain != 0 {
				t.Fatalf("second pass: %+v, %v", st, err)
			}
			checkAllReadable(t, s, u.ID, n)
			if hits := grepBlobs(t, dir, "SECRET-MARKER-"); len(hits) > 0 {
				t.Fatalf("plaintext left on disk in %v", hits[:1])
			}
			if n := plaintextStored(t, s, u.ID, "SECRET-MARKER-"); n > 0 {
				t.Fatalf("%d bodies left in plaintext", n)
			}
			entries, _ := os.ReadDir(filepath.Join(dir, "blobs", sealingDir))
			if len(entries) != 0 {
				t.Fatalf("leftovers in the sealing folder: %v", entries)
			}
		})
	}
}

// TestSealExistingSkipsUnreferenced: a plaintext body no metadata
// references (a delivery still writing it) is not replaced.
func TestSealExistingSkipsUnreferenced(t *testing.T) {
	ctx := context.Background()
	sealer, _ := newTestSealer(t)
	s := openStoreAt(t, t.TempDir(), nil)
	key, _, err := s.blobs.Put(ctx, strings.NewReader("being written"))
	if err != nil {
		t.Fatal(err)
	}
	s.files.(*FileBlobStore).sealer = sealer
	defer s.Close()
	st, err := s.SealExisting(ctx, nil)
	if err != nil || st.Unreferenced != 1 || st.Plain != 1 {
		t.Fatalf("%+v, %v", st, err)
	}
	b, err := s.blobs.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, _ := io.ReadAll(b); string(got) != "being written" {
		t.Fatalf("body %q", got)
	}
}

// TestSealExistingSurvivesKill: a sealing pass killed with SIGKILL while
// it runs loses nothing, and the next pass finishes the job.
func TestSealExistingSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("delivers 1500 messages")
	}
	dir := t.TempDir()
	s := openStoreAt(t, dir, nil)
	u := newTestUser(t, s, "cy@example.com")
	n := 3 * sweepChunk
	deliverMany(t, s, u.ID, n)
	s.Close()
	_, keyPath := newTestSealer(t)

	cmd := exec.Command(os.Args[0], "-test.run=^TestSealHelperProcess$")
	cmd.Env = append(os.Environ(), "YUBIN_SEAL_HELPER_DIR="+dir, "YUBIN_SEAL_HELPER_KEY="+keyPath)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "progress") {
			break // one chunk done, the next being sealed: kill it now
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	sealer, err := blobcrypt.LoadServerKey(keyPath, dir)
	if err != nil {
		t.Fatal(err)
	}
	s = openStoreAt(t, dir, sealer)
	defer s.Close()
	mid, _ := s.SealStatus(context.Background())
	t.Logf("after the kill: %+v", mid)
	if mid.Sealed < sweepChunk {
		t.Fatalf("the helper was killed before its first chunk was done: %+v", mid)
	}
	checkAllReadable(t, s, u.ID, n)
	st, err := s.SealExisting(context.Background(), nil)
	if err != nil || st.Sealed != n || st.Plain != 0 {
		t.Fatalf("resumed pass: %+v, %v", st, err)
	}
	checkAllReadable(t, s, u.ID, n)
	if hits := grepBlobs(t, dir, "SECRET-MARKER-"); len(hits) > 0 {
		t.Fatalf("plaintext left on disk in %v", hits[:1])
	}
}

// TestSealHelperProcess is the process TestSealExistingSurvivesKill kills.
func TestSealHelperProcess(t *testing.T) {
	dir := os.Getenv("YUBIN_SEAL_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process of TestSealExistingSurvivesKill")
	}
	sealer, err := blobcrypt.LoadServerKey(os.Getenv("YUBIN_SEAL_HELPER_KEY"), dir)
	if err != nil {
		t.Fatal(err)
	}
	s := openStoreAt(t, dir, sealer)
	s.SealExisting(context.Background(), func(st SealStatus) {
		fmt.Printf("progress %d\n", st.Sealed)
	})
	select {} // wait to be killed
}
