package blobcrypt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
)

// GenerateKeyFile writes a new server key (an age X25519 identity, usable
// with the age tool too) to path, which must not exist yet, with mode 0600,
// and returns its public key.
func GenerateKeyFile(path string) (string, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create key file: %w", err)
	}
	text := fmt.Sprintf("# Yubin encryption key, created %s\n# Keep it outside the data folder and in a safe place: without it the mail cannot be read.\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("write key file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write key file: %w", err)
	}
	return id.Recipient().String(), nil
}

// LoadServerKey reads the server key file at path and returns a Sealer
// that seals to it and opens with it (caching file keys). The file must be
// a regular file readable by its owner only, and must lie outside dataDir:
// a key kept beside the mail it protects protects nothing.
func LoadServerKey(path, dataDir string) (*Sealer, error) {
	if err := checkOutside(path, dataDir); err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("encryption key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("encryption key file %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("encryption key file %s: mode %04o lets other users read it (chmod 600 %s)", path, perm, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("encryption key file: %w", err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("encryption key file %s: %w", path, err)
	}
	var xs []*age.X25519Identity
	for _, id := range ids {
		x, ok := id.(*age.X25519Identity)
		if !ok {
			return nil, fmt.Errorf("encryption key file %s: not an X25519 key (make one with yubin encryption keygen)", path)
		}
		xs = append(xs, x)
	}
	// Seal to the first key only; the others still open older bodies (a
	// key rotation puts the new key first and keeps the old one below it).
	recipients, fast, err := serverKeys(xs)
	if err != nil {
		return nil, fmt.Errorf("encryption key file %s: %w", path, err)
	}
	s := NewSealer(recipients, ids, true)
	s.fast = fast
	return s, nil
}

// checkOutside fails if path lies inside dataDir (both resolved through
// symbolic links as far as they exist).
func checkOutside(path, dataDir string) error {
	kp, err := resolve(path)
	if err != nil {
		return fmt.Errorf("encryption key file: %w", err)
	}
	dp, err := resolve(dataDir)
	if err != nil {
		return fmt.Errorf("encryption key file: data folder: %w", err)
	}
	rel, err := filepath.Rel(dp, kp)
	if err != nil {
		return nil // different volumes
	}
	if rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))) {
		return fmt.Errorf("encryption key file %s is inside the data folder %s: keep it elsewhere (a backup or a stolen disk would carry the key with the mail)", path, dataDir)
	}
	return nil
}

// resolve returns the absolute path of p with the symbolic links of its
// existing part resolved.
func resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	dir, base := filepath.Split(abs)
	if dir == abs || dir == "" {
		return abs, nil
	}
	rd, err := resolve(filepath.Clean(dir))
	if err != nil {
		return "", err
	}
	return filepath.Join(rd, base), nil
}
