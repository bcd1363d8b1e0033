package mailstore

// Bodies of expunged messages, kept for the sessions that still show them.
//
// RFC 2180 §4.1: a session that has not yet been told of an expunge (an
// IMAP server may not send EXPUNGE during FETCH, STORE or SEARCH) may still
// ask for the message. Its quota and usage are released at once, but its
// metadata is kept in expunged_messages for a grace time, and the row's
// blob_key keeps its body (the orphan sweep, backups and the encryption
// passes treat it as a reference like any other), so that such a FETCH gets
// the data, as Dovecot answers it. ReleaseExpunged, run by the store every
// minute and when it opens, forgets the rows older than the grace time and
// removes the bodies nothing references any more.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	yubindb "github.com/yubinmail/yubin/internal/db"
)

// DefaultExpungedGrace is how long the body of an expunged message stays
// readable for sessions that still show it. A session is told of an
// expunge at its next command other than FETCH, STORE or SEARCH (at once
// in IDLE); one that has gone this long without one has been idle longer
// than most clients poll, and gets NO [EXPUNGEISSUED] as RFC 2180 allows.
const DefaultExpungedGrace = 10 * time.Minute

// expungedMessage is the metadata of a message expunged less than the
// grace time ago (see ReleaseExpunged).
type expungedMessage struct {
	ID           int64     `gorm:"primaryKey"`
	MailboxID    int64     `gorm:"not null;index:idx_expunged_mailbox_uid,priority:1"`
	UID          uint32    `gorm:"not null;index:idx_expunged_mailbox_uid,priority:2"`
	BlobKey      string    `gorm:"size:64;not null;index"` // keeps the body while the row lives
	Size         int64     `gorm:"not null"`
	InternalDate time.Time `gorm:"not null"`
	ModSeq       int64     `gorm:"not null"`
	Flags        string    `gorm:"size:2000;not null;default:''"`
	// ExpungedAt is when it was expunged (Unix seconds).
	ExpungedAt int64 `gorm:"not null;index"`
}

func (expungedMessage) TableName() string { return "expunged_messages" }

func expungedModels() []any { return []any{&expungedMessage{}} }

// keepExpungedTx records the message rows ids (about to be deleted) as
// expunged now.
func keepExpungedTx(tx *writeTx, ids []int64) error {
	now := time.Now().Unix()
	for chunk := range slices.Chunk(ids, 500) {
		err := tx.Exec(`INSERT INTO expunged_messages (mailbox_id, uid, blob_key, size, internal_date, mod_seq, flags, expunged_at)
			SELECT mailbox_id, uid, blob_key, size, internal_date, mod_seq, flags, ? FROM messages WHERE id IN ?`, now, chunk).Error
		if err != nil {
			return fmt.Errorf("keep expunged messages: %w", err)
		}
	}
	return nil
}

// ListExpunged returns the metadata of the messages of a mailbox in uids
// that were expunged less than the grace time ago and whose bodies are
// still readable, for a session that has not been told yet (RFC 2180).
func (s *Store) ListExpunged(ctx context.Context, mailboxID int64, uids []uint32) ([]MessageMeta, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	var out []MessageMeta
	for chunk := range slices.Chunk(uids, 500) {
		rows, err := s.db.WithContext(ctx).Raw(`SELECT uid, size, internal_date, mod_seq, flags, blob_key FROM expunged_messages
			WHERE mailbox_id = ? AND uid IN ? ORDER BY uid, id`, mailboxID, chunk).Rows()
		if err != nil {
			return nil, fmt.Errorf("expunged messages of mailbox %d: %w", mailboxID, err)
		}
		for rows.Next() {
			var m MessageMeta
			var flags string
			if err := rows.Scan(&m.UID, &m.Size, &m.InternalDate, &m.ModSeq, &flags, &m.BlobKey); err != nil {
				rows.Close()
				return nil, fmt.Errorf("expunged messages of mailbox %d: %w", mailboxID, err)
			}
			m.Flags = splitFlags(flags)
			m.SaveDate = m.InternalDate
			if n := len(out); n > 0 && out[n-1].UID == m.UID {
				out[n-1] = m // the latest (a UID is never reused; defensive)
				continue
			}
			out = append(out, m)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// forgetExpungedOfUserTx forgets the expunged messages of a user's
// mailboxes and returns their body keys (to release).
func forgetExpungedOfUserTx(tx *writeTx, userID int64) ([]string, error) {
	boxes := tx.Model(&Mailbox{}).Select("id").Where("user_id = ?", userID)
	var keys []string
	if err := tx.Model(&expungedMessage{}).Where("mailbox_id IN (?)", boxes).Distinct().Pluck("blob_key", &keys).Error; err != nil {
		return nil, fmt.Errorf("expunged messages of user %d: %w", userID, err)
	}
	if err := tx.Where("mailbox_id IN (?)", boxes).Delete(&expungedMessage{}).Error; err != nil {
		return nil, fmt.Errorf("expunged messages of user %d: %w", userID, err)
	}
	return keys, nil
}

// ReleaseExpunged forgets the expunged messages recorded before before and
// removes the bodies that nothing references any more (no message, no
// other expunged message, nothing queued or held). It returns how many
// bodies it removed. One process on the database releases at a time:
// while another one does, it returns ErrJobRunning.
func (s *Store) ReleaseExpunged(ctx context.Context, before time.Time) (int, error) {
	// Most of the time there is nothing to do: see so without the write
	// lock (a CLI command opening the store must not wait for it).
	var any int
	err := yubindb.FirstRow(s.db.WithContext(ctx).Raw("SELECT count(*) FROM (SELECT 1 FROM expunged_messages WHERE expunged_at < ? LIMIT 1) AS one", before.Unix()).Rows()).Scan(&any)
	if err != nil {
		return 0, fmt.Errorf("release expunged bodies: %w", err)
	}
	if any == 0 {
		return 0, nil
	}
	var removed int
	err = s.exclusive(ctx, jobReleaseExpunged, func() (err error) {
		removed, err = s.releaseExpunged(ctx, before)
		return err
	})
	return removed, err
}

// releaseExpunged is ReleaseExpunged holding the job's lock.
func (s *Store) releaseExpunged(ctx context.Context, before time.Time) (int, error) {
	removed := 0
	for {
		var n, rows int
		err := s.write(ctx, func(tx *writeTx) error {
			n, rows = 0, 0
			var ids []int64
			var keys []string
			r, err := tx.Raw("SELECT id, blob_key FROM expunged_messages WHERE expunged_at < ? ORDER BY id LIMIT ?", before.Unix(), sweepChunk).Rows()
			if err != nil {
				return err
			}
			for r.Next() {
				var id int64
				var k string
				if err := r.Scan(&id, &k); err != nil {
					r.Close()
					return err
				}
				ids = append(ids, id)
				keys = append(keys, k)
			}
			if err := r.Close(); err != nil {
				return err
			}
			rows = len(ids)
			if rows == 0 {
				return nil
			}
			if err := tx.Exec("DELETE FROM expunged_messages WHERE id IN ?", ids).Error; err != nil {
				return err
			}
			slices.Sort(keys)
			n, err = releaseUnreferenced(tx, slices.Compact(keys))
			return err
		})
		removed += n
		if err != nil {
			return removed, fmt.Errorf("release expunged bodies: %w", err)
		}
		if rows < sweepChunk {
			return removed, nil
		}
	}
}

// releaseUnreferenced removes the bodies among keys that no table
// references.
func releaseUnreferenced(tx *writeTx, keys []string) (int, error) {
	tables, err := tx.store.blobTables(tx.DB)
	if err != nil {
		return 0, err
	}
	referenced, err := referencedKeys(tx, tables, keys, 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if referenced[k] {
			continue
		}
		if err := deleteBodyThreadTx(tx, k); err != nil {
			return n, err
		}
		if err := deleteCachedHeaderTx(tx, k); err != nil {
			return n, err
		}
		if err := deleteBodyTx(tx, k); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// expungedReferences counts the expunged messages that keep the body key.
func expungedReferences(tx *writeTx, key string) (int64, error) {
	var n int64
	err := yubindb.FirstRow(tx.Raw("SELECT count(*) FROM expunged_messages WHERE blob_key = ?", key).Rows()).Scan(&n)
	if err != nil && err != sql.ErrNoRows {
		return 0, err
	}
	return n, nil
}

// releaseLoop releases the bodies of expunged messages past the grace time
// until stop is closed.
func (s *Store) releaseLoop(grace time.Duration, stop <-chan struct{}) {
	every := min(grace/2, time.Minute)
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if _, err := s.ReleaseExpunged(context.Background(), time.Now().Add(-grace)); err != nil && !errors.Is(err, ErrJobRunning) {
				s.log.Warn("release the bodies of expunged messages", "err", err)
			}
		}
	}
}
