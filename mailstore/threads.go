package mailstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"gorm.io/gorm/clause"
)

// Thread ids (THREADID, OBJECTID RFC 8474 §5.2). A message's thread id is
// kept per body, so that every copy of a message (COPY, MOVE: the same
// body, the same EMAILID) has the same one, and it never changes once
// given. It is given from the message's Message-ID, In-Reply-To and
// References: a message joins the thread of the first of the ids it
// names (oldest reference first) that the owner's mail has seen, else
// starts its own thread; its ids then lead to that thread. Subjects are not
// used: a thread id cannot be taken back, and a like subject is no proof
// that two messages belong together.

// messageThread is the thread id of a body.
type messageThread struct {
	BodyKey  string `gorm:"primaryKey;size:64"` // the body's blob key (not named blob_key: it keeps no body alive)
	ThreadID string `gorm:"size:40;not null"`
}

// TableName names the table of thread ids.
func (messageThread) TableName() string { return "message_threads" }

// threadRef leads from a Message-ID seen in a user's mail to its thread.
type threadRef struct {
	UserID   int64  `gorm:"primaryKey;autoIncrement:false"`
	RefHash  string `gorm:"primaryKey;size:32"` // digest of the Message-ID
	ThreadID string `gorm:"size:40;not null"`
}

// TableName names the table of thread references.
func (threadRef) TableName() string { return "thread_refs" }

func threadModels() []any { return []any{&messageThread{}, &threadRef{}} }

// ThreadItem is a message to give a thread id: its body and the message
// ids its header names, oldest reference first and its own Message-ID
// last.
type ThreadItem struct {
	BlobKey    string
	MessageIDs []string
}

// ThreadIDs returns the thread ids the bodies of blobKeys have, by key;
// bodies without one yet are left out.
func (s *Store) ThreadIDs(ctx context.Context, blobKeys []string) (map[string]string, error) {
	out := make(map[string]string, len(blobKeys))
	for chunk := range slices.Chunk(blobKeys, 500) {
		var rows []messageThread
		if err := s.db.WithContext(ctx).Where("body_key IN ?", chunk).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("thread ids: %w", err)
		}
		for _, r := range rows {
			out[r.BodyKey] = r.ThreadID
		}
	}
	return out, nil
}

// assignChunk bounds the messages given thread ids in one transaction.
const assignChunk = 500

// AssignThreads gives the messages of items, in their order, a thread id
// in the mail of the owner of mailbox mailboxID, and returns them by blob
// key; a body that has one already keeps it.
func (s *Store) AssignThreads(ctx context.Context, mailboxID int64, items []ThreadItem) (map[string]string, error) {
	mb, err := s.GetMailboxByID(ctx, mailboxID)
	if err != nil {
		return nil, fmt.Errorf("assign threads: %w", err)
	}
	out := make(map[string]string, len(items))
	for chunk := range slices.Chunk(items, assignChunk) {
		err := s.write(ctx, func(tx *writeTx) error {
			for _, it := range chunk {
				id, err := assignThreadTx(tx, mb.UserID, it)
				if err != nil {
					return err
				}
				out[it.BlobKey] = id
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("assign threads in mailbox %d: %w", mailboxID, err)
		}
	}
	return out, nil
}

func assignThreadTx(tx *writeTx, userID int64, it ThreadItem) (string, error) {
	var have []messageThread
	if err := tx.Where("body_key = ?", it.BlobKey).Limit(1).Find(&have).Error; err != nil {
		return "", err
	}
	hashes := make([]string, 0, len(it.MessageIDs))
	for _, id := range it.MessageIDs {
		if id != "" {
			hashes = append(hashes, refHash(id))
		}
	}
	thread := ""
	if len(have) > 0 {
		thread = have[0].ThreadID
	} else {
		if len(hashes) > 0 {
			var refs []threadRef
			if err := tx.Where("user_id = ? AND ref_hash IN ?", userID, hashes).Find(&refs).Error; err != nil {
				return "", err
			}
			for _, h := range hashes {
				if i := slices.IndexFunc(refs, func(r threadRef) bool { return r.RefHash == h }); i >= 0 {
					thread = refs[i].ThreadID
					break
				}
			}
		}
		if thread == "" {
			sum := sha256.Sum256([]byte("yubin-threadid:" + it.BlobKey))
			thread = "T" + hex.EncodeToString(sum[:12])
		}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&messageThread{BodyKey: it.BlobKey, ThreadID: thread}).Error; err != nil {
			return "", err
		}
	}
	for _, h := range hashes {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&threadRef{UserID: userID, RefHash: h, ThreadID: thread}).Error; err != nil {
			return "", err
		}
	}
	return thread, nil
}

// refHash is the digest a Message-ID is kept as.
func refHash(messageID string) string {
	sum := sha256.Sum256([]byte(messageID))
	return hex.EncodeToString(sum[:16])
}

// deleteBodyThreadTx forgets the thread id of a body that goes away.
func deleteBodyThreadTx(tx *writeTx, key string) error {
	return tx.Where("body_key = ?", key).Delete(&messageThread{}).Error
}

// deleteUserThreadsTx forgets the thread references of a user that goes
// away.
func deleteUserThreadsTx(tx *writeTx, userID int64) error {
	return tx.Where("user_id = ?", userID).Delete(&threadRef{}).Error
}
