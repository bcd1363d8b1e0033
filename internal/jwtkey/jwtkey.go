// Package jwtkey keeps the API's JWT signing key (HS256) in the database,
// so that every node on a shared database signs and accepts the same
// tokens. The key is sealed with the server key (package blobcrypt) when
// encryption at rest is configured. Older versions kept it in a file of the
// data folder (DATA/api/jwt.key): Load takes that key over once, so that
// the sessions it signed stay valid, and removes the file.
package jwtkey

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/yubinmail/yubin/internal/db"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// Size is the length of the key in bytes.
const Size = 32

// sealLabel binds the sealed key to its use.
const sealLabel = "api jwt signing key"

// Database is the database the key is kept in: the mailstore's.
type Database = db.Tables

// errNoServerKey: the stored key is sealed and no server key is given.
var errNoServerKey = errors.New("API signing key: it is sealed with the server key, and none is given")

// keyRow is the one signing key (ID 1).
type keyRow struct {
	ID        int64  `gorm:"primaryKey;autoIncrement:false"`
	Key       []byte `gorm:"not null"`
	Sealed    bool   `gorm:"not null;default:false"`
	CreatedAt time.Time
}

func (keyRow) TableName() string { return "api_signing_keys" }

// Load returns the signing key kept in db, making it on first use: from
// the key file older versions wrote (legacyFile, if it exists and holds a
// key), else at random. Several nodes starting at once agree on one key:
// the first insert wins and every node reads the winner. A new key is
// sealed with sealer if it can seal; a sealed key needs it to be read.
// Without a server key at all (sealer nil: a backup restored without it),
// a sealed key is replaced by a new one, which only ends the API sessions
// (users sign in again); with another server key Load fails. The legacy
// file is removed once the database holds the key.
func Load(ctx context.Context, db Database, sealer *blobcrypt.Sealer, legacyFile string, log *slog.Logger) ([]byte, error) {
	if err := db.MigrateTables(ctx, "jwtkey", &keyRow{}); err != nil {
		return nil, fmt.Errorf("API signing key: %w", err)
	}
	key, err := read(ctx, db, sealer)
	if errors.Is(err, errNoServerKey) {
		if log == nil {
			log = slog.Default()
		}
		log.Warn("the API signing key is sealed with a server key this server does not have: a new key replaces it, and API sessions must sign in again")
		err = db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
			return tx.Where("id = ? AND sealed", 1).Delete(&keyRow{}).Error
		})
		if err != nil {
			return nil, fmt.Errorf("API signing key: replace: %w", err)
		}
		key, err = read(ctx, db, sealer)
	}
	if err != nil || key != nil {
		return key, err
	}
	fresh, fromFile, err := readLegacy(legacyFile)
	if err != nil {
		return nil, err
	}
	if fresh == nil {
		fresh = make([]byte, Size)
		rand.Read(fresh)
	}
	stored, sealed := fresh, false
	if sealer.CanSeal() {
		var b bytes.Buffer
		w, err := sealer.Seal(&b, sealLabel)
		if err == nil {
			_, err = w.Write(fresh)
			err = errors.Join(err, w.Close())
		}
		if err != nil {
			return nil, fmt.Errorf("API signing key: seal: %w", err)
		}
		stored, sealed = b.Bytes(), true
	}
	err = db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		return tx.Clauses(clause.OnConflict{DoNothing: true}).
			Create(&keyRow{ID: 1, Key: stored, Sealed: sealed, CreatedAt: time.Now()}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("API signing key: store: %w", err)
	}
	key, err = read(ctx, db, sealer)
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, errors.New("API signing key: stored but not found")
	}
	if fromFile {
		if err := os.Remove(legacyFile); err != nil {
			return nil, fmt.Errorf("API signing key: remove %s now that the database holds it: %w", legacyFile, err)
		}
	}
	return key, nil
}

// read returns the stored key, nil if there is none yet.
func read(ctx context.Context, db Database, sealer *blobcrypt.Sealer) ([]byte, error) {
	var rows []keyRow
	if err := db.ReadDB(ctx).Where("id = ?", 1).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("API signing key: read: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	r := rows[0]
	key := r.Key
	if r.Sealed && sealer == nil {
		return nil, errNoServerKey
	}
	if r.Sealed {
		body, err := sealer.Open(bytes.NewReader(r.Key), int64(len(r.Key)), sealLabel)
		if err != nil {
			return nil, fmt.Errorf("API signing key: it is sealed with the server key: %w", err)
		}
		key, err = io.ReadAll(io.NewSectionReader(body, 0, body.Size()))
		body.Close()
		if err != nil {
			return nil, fmt.Errorf("API signing key: unseal: %w", err)
		}
	}
	if len(key) != Size {
		return nil, fmt.Errorf("API signing key: the database holds %d bytes, want %d", len(key), Size)
	}
	return key, nil
}

// readLegacy reads the key file of older versions; a missing file is no
// key and no error.
func readLegacy(path string) (key []byte, ok bool, err error) {
	if path == "" {
		return nil, false, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("API signing key: read %s: %w", path, err)
	}
	if len(b) != Size {
		return nil, false, fmt.Errorf("API signing key: %s holds %d bytes, want %d (delete it to make a new key)", path, len(b), Size)
	}
	return b, true, nil
}
