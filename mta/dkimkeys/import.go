package dkimkeys

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gorm.io/gorm"
)

// fileState is keys.json of a domain's key folder, as older versions wrote
// it.
type fileState struct {
	Keys []struct {
		Selector  string     `json:"selector"`
		Algorithm string     `json:"algorithm"`
		CreatedAt time.Time  `json:"created_at"`
		RetiredAt *time.Time `json:"retired_at,omitempty"`
	} `json:"keys"`
}

// Import takes over the key files older versions kept in dir (normally
// DATA/dkim: a folder per domain holding <selector>.<alg>.pem, PKCS #8, and
// keys.json, which says which keys are active and which were retired
// when). Every key goes into the database, sealed with the server key when
// there is one, in one transaction; a domain that has keys in the database
// already keeps those (the files are an older copy). Once the keys are durable
// there, the folder is removed: the private keys are no longer on disk in
// plain text. Without the folder Import does nothing; if any key cannot be
// read, nothing is imported or removed and the error names them (a
// domain's mail must not be signed with new keys its DNS does not have).
// It returns how many keys it imported.
func (k *Keys) Import(ctx context.Context, dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("import DKIM key files: %w", err)
	}
	var rs []keyRow
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		d, err := domainName(e.Name())
		if err != nil || d != e.Name() {
			continue
		}
		domainRows, err := k.readDomainFiles(filepath.Join(dir, d), d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rs = append(rs, domainRows...)
	}
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("import DKIM key files from %s: %w", dir, err)
	}
	imported := 0
	err = k.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		var have []string
		if err := tx.Model(&keyRow{}).Distinct().Pluck("domain", &have).Error; err != nil {
			return err
		}
		var add []keyRow
		for _, r := range rs {
			if !slices.Contains(have, r.Domain) {
				r.ID = 0 // may run again after a batch rollback
				add = append(add, r)
			}
		}
		imported = len(add)
		return insertIgnore(tx, add)
	})
	if err != nil {
		return 0, fmt.Errorf("import DKIM key files from %s: %w", dir, err)
	}
	// keys.json first: a folder left half removed by a crash is one
	// without keys, skipped by the next Import.
	for _, e := range entries {
		if err := os.Remove(filepath.Join(dir, e.Name(), "keys.json")); err != nil && !errors.Is(err, fs.ErrNotExist) && e.IsDir() {
			return imported, fmt.Errorf("remove the imported DKIM key files: %w", err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return imported, fmt.Errorf("remove the imported DKIM key files: %w", err)
	}
	return imported, nil
}

// readDomainFiles reads the key files of domain in dir.
func (k *Keys) readDomainFiles(dir, domain string) ([]keyRow, error) {
	data, err := os.ReadFile(filepath.Join(dir, "keys.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // never finished making its first keys
	}
	if err != nil {
		return nil, fmt.Errorf("DKIM keys of %s: %w", domain, err)
	}
	var st fileState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("DKIM keys of %s: keys.json: %w", domain, err)
	}
	var rs []keyRow
	for _, ks := range st.Keys {
		path := filepath.Join(dir, ks.Selector+"."+ks.Algorithm+".pem")
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("DKIM keys of %s: %w", domain, err)
		}
		block, _ := pem.Decode(data)
		if block == nil || block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("DKIM keys of %s: %s: no PRIVATE KEY block", domain, path)
		}
		if _, err := parseKey(block.Bytes, ks.Algorithm); err != nil {
			return nil, fmt.Errorf("DKIM keys of %s: %s: %w", domain, path, err)
		}
		stored, sealed, err := k.seal(domain, ks.Selector, block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("DKIM keys of %s: %w", domain, err)
		}
		rs = append(rs, keyRow{Domain: domain, Selector: ks.Selector, Algorithm: ks.Algorithm,
			CreatedAt: ks.CreatedAt.UTC(), RetiredAt: ks.RetiredAt, Private: stored, Sealed: sealed})
	}
	return rs, nil
}
