package mailstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
	yubindb "github.com/yubinmail/yubin/internal/db"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// QuarantinedMessage is a message held for an administrator instead of being
// delivered (a filter's Quarantine verdict). Its body is in the blob store
// under BlobKey, which no mailbox message shares while it is held.
type QuarantinedMessage struct {
	ID      int64  `gorm:"primaryKey"`
	BlobKey string `gorm:"size:64;not null;index"`
	Size    int64  `gorm:"not null"`
	// From is the envelope sender ("" for the null sender).
	From string `gorm:"column:from_addr;size:320;not null;default:''"`
	// Recipients are the local users the message was for, normalised.
	Recipients []string  `gorm:"serializer:json;type:text;not null"`
	Subject    string    `gorm:"size:1000;not null;default:''"`
	Reason     string    `gorm:"size:1000;not null;default:''"`
	Filter     string    `gorm:"size:100;not null;default:''"`
	ReceivedAt time.Time `gorm:"not null;index"`
}

// TableName names the quarantine table.
func (QuarantinedMessage) TableName() string { return "quarantined_messages" }

// QuarantineInput is a message to hold.
type QuarantineInput struct {
	// Body is the whole message; line endings are normalised to CRLF.
	Body io.Reader
	// From is the envelope sender, "" for the null sender.
	From string
	// Recipients are the addresses of the local users it is for.
	Recipients []string
	// Subject, Reason and Filter describe the message and why it is held
	// (for the administrator); they are cut to their column sizes.
	Subject, Reason, Filter string
	// ReceivedAt is when the message arrived; zero means now.
	ReceivedAt time.Time
}

// maxQuarantineRecipients bounds the recipients of one held message.
const maxQuarantineRecipients = 1000

// Quarantine stores a message durably for an administrator to release or
// delete. When it returns without error the body and the record are durable.
func (s *Store) Quarantine(ctx context.Context, in QuarantineInput) (*QuarantinedMessage, error) {
	if in.Body == nil {
		return nil, fmt.Errorf("quarantine: no body: %w", core.ErrInvalid)
	}
	if len(in.Recipients) == 0 || len(in.Recipients) > maxQuarantineRecipients {
		return nil, fmt.Errorf("quarantine: %d recipients: %w", len(in.Recipients), core.ErrInvalid)
	}
	rcpts := make([]string, 0, len(in.Recipients))
	for _, r := range in.Recipients {
		a, err := core.NormalizeAddress(r)
		if err != nil {
			return nil, fmt.Errorf("quarantine: recipient: %w", err)
		}
		if !slices.Contains(rcpts, a) {
			rcpts = append(rcpts, a)
		}
	}
	date := in.ReceivedAt
	if date.IsZero() {
		date = time.Now()
	}
	q := QuarantinedMessage{
		From:       core.OneLine(in.From, 320),
		Recipients: rcpts,
		Subject:    core.OneLine(in.Subject, 1000),
		Reason:     core.OneLine(quarantineReason(in.Filter, in.Reason), 1000),
		Filter:     core.OneLine(in.Filter, 100),
		ReceivedAt: date.UTC().Truncate(time.Second),
	}
	key, size, err := s.putBody(ctx, in.Body)
	if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	q.BlobKey, q.Size = key, size
	err = s.writeBody(ctx, func(tx *writeTx) error {
		q.ID = 0
		return tx.Create(&q).Error
	})
	if err != nil {
		if delErr := s.blobs.Delete(ctx, key); delErr != nil {
			s.log.Warn("remove unquarantined body", "blob", key, "err", delErr)
		}
		return nil, fmt.Errorf("quarantine %s: %w", key, err)
	}
	return &q, nil
}

// quarantineReason returns reason without a leading "filter: ", which
// names the filter a second time: the item shows as "filter: reason".
func quarantineReason(filter, reason string) string {
	reason = strings.TrimSpace(reason)
	for filter != "" && len(reason) > len(filter)+1 && strings.EqualFold(reason[:len(filter)], filter) && reason[len(filter)] == ':' {
		reason = strings.TrimSpace(reason[len(filter)+1:])
	}
	return reason
}

// QuarantineFilter narrows ListQuarantine and CountQuarantine.
type QuarantineFilter struct {
	Recipient string // only messages held for this address
	Limit     int    // 0 = no limit
	Offset    int
}

func (s *Store) quarantineQuery(ctx context.Context, f QuarantineFilter) (*gorm.DB, error) {
	q := s.db.WithContext(ctx).Model(&QuarantinedMessage{})
	if f.Recipient != "" {
		a, err := core.NormalizeAddress(f.Recipient)
		if err != nil {
			return nil, err
		}
		// Recipients is a JSON array of strings: match the element exactly,
		// encoded as the serializer encodes it.
		enc, err := json.Marshal(a)
		if err != nil {
			return nil, err
		}
		q = q.Where("recipients LIKE ? ESCAPE '\\'", "%"+escapeLike(string(enc))+"%")
	}
	return q, nil
}

// ListQuarantine returns held messages, the most recent first.
func (s *Store) ListQuarantine(ctx context.Context, f QuarantineFilter) ([]QuarantinedMessage, error) {
	q, err := s.quarantineQuery(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	q = q.Order("received_at DESC").Order("id DESC")
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	if f.Offset > 0 {
		q = q.Offset(f.Offset)
	}
	var out []QuarantinedMessage
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	return out, nil
}

// CountQuarantine returns how many messages ListQuarantine would return
// without Limit and Offset.
func (s *Store) CountQuarantine(ctx context.Context, f QuarantineFilter) (int64, error) {
	q, err := s.quarantineQuery(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("count quarantine: %w", err)
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count quarantine: %w", err)
	}
	return n, nil
}

// GetQuarantined returns a held message's record.
func (s *Store) GetQuarantined(ctx context.Context, id int64) (*QuarantinedMessage, error) {
	var q QuarantinedMessage
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&q).Error; err != nil {
		return nil, fmt.Errorf("get quarantined message %d: %w", id, notFound(err))
	}
	return &q, nil
}

// OpenQuarantined opens a held message's raw bytes (CRLF line endings).
func (s *Store) OpenQuarantined(ctx context.Context, id int64) (io.ReadCloser, error) {
	q, err := s.GetQuarantined(ctx, id)
	if err != nil {
		return nil, err
	}
	b, err := s.blobs.Open(ctx, q.BlobKey)
	if err != nil {
		return nil, fmt.Errorf("open quarantined message %d: %w", id, err)
	}
	return b, nil
}

// ReleaseQuarantined delivers a held message to the INBOX of each of its
// recipients, as Deliver does but without enforcing quotas (an
// administrator's decision) and keeping the time it was received, and
// removes it from the quarantine. Recipients that no longer exist are
// skipped (and logged); if none is left the message stays held and the
// error wraps core.ErrNotFound. ReleaseQuarantinedTo releases it where
// the recipients' Sieve scripts put it instead.
//
// The delivered messages share the held body, and the quarantine record is
// removed in the same transaction that adds them, so the body is never
// referenced by both and never freed while delivered messages use it. A
// recipient in user-key mode gets a copy sealed to their own key instead
// (the held body is under the server key); the held body is then freed if
// no one else shares it.
func (s *Store) ReleaseQuarantined(ctx context.Context, id int64) error {
	return s.release(ctx, id, nil)
}

// ReleaseQuarantinedTo releases a held message as ReleaseQuarantined does,
// but into targets (the mailboxes, flags and accounts the recipients'
// Sieve scripts chose; a Mailbox that does not exist means INBOX unless
// Create is set) rather than each recipient's INBOX. The held body already
// carries its delivery fields, so the targets' HeaderPrefix is not used.
// No targets (every script discarded the message) removes it from the
// quarantine without storing a copy. Targets of accounts that no longer
// exist are skipped; if every target is, the message stays held and the
// error wraps core.ErrNotFound.
func (s *Store) ReleaseQuarantinedTo(ctx context.Context, id int64, targets []DeliveryTarget) error {
	if targets == nil {
		targets = []DeliveryTarget{}
	}
	return s.release(ctx, id, targets)
}

// release is ReleaseQuarantined (targets nil: each recipient's INBOX) and
// ReleaseQuarantinedTo.
func (s *Store) release(ctx context.Context, id int64, targets []DeliveryTarget) error {
	var userIDs []int64 // nil: the recipients'
	if targets != nil {
		userIDs = make([]int64, 0, len(targets))
		for _, t := range targets {
			userIDs = append(userIDs, t.UserID)
		}
	}
	copies, err := s.userKeyCopiesOfHeld(ctx, id, userIDs)
	if err != nil {
		return fmt.Errorf("release quarantined message %d: %w", id, err)
	}
	var skipped []string
	err = s.writeBody(ctx, func(tx *writeTx) error {
		skipped = nil
		var q QuarantinedMessage
		if err := tx.Where("id = ?", id).Take(&q).Error; err != nil {
			return notFound(err)
		}
		into := targets
		if into == nil {
			into = make([]DeliveryTarget, 0, len(q.Recipients))
			for _, addr := range q.Recipients {
				var userID int64
				err := yubindb.FirstRow(tx.Raw("SELECT id FROM users WHERE address = ?", addr).Rows()).Scan(&userID)
				if errors.Is(err, sql.ErrNoRows) {
					skipped = append(skipped, addr)
					continue
				}
				if err != nil {
					return err
				}
				into = append(into, DeliveryTarget{UserID: userID})
			}
		}
		delivered := 0
		for _, t := range into {
			flags, err := CanonicalFlags(t.Flags)
			if err != nil {
				return fmt.Errorf("flags of user %d's copy: %w", t.UserID, err)
			}
			mb, err := deliveryMailbox(tx, t.UserID, t.Mailbox, t.Create)
			if errors.Is(err, core.ErrNotFound) {
				skipped = append(skipped, fmt.Sprint("user ", t.UserID))
				continue
			}
			if err != nil {
				return err
			}
			row := messageRow{BlobKey: q.BlobKey, Size: q.Size, InternalDate: q.ReceivedAt.UTC().Truncate(time.Second), Flags: strings.Join(flags, " ")}
			if c, ok := copies[t.UserID]; ok {
				row.BlobKey, row.Size = c.key, c.size
			}
			if _, err := insertMessages(tx, t.UserID, mb, []messageRow{row}, false, 0); err != nil {
				return err
			}
			delivered++
		}
		if delivered == 0 && (targets == nil || len(targets) > 0) {
			return fmt.Errorf("no recipient left (%s): %w", strings.Join(skipped, ", "), core.ErrNotFound)
		}
		if err := tx.Where("id = ?", q.ID).Delete(&QuarantinedMessage{}).Error; err != nil {
			return err
		}
		if len(copies) > 0 || delivered == 0 {
			// Freed after the commit unless a copy shares it.
			if err := releaseBlobs(tx, []string{q.BlobKey}); err != nil {
				return err
			}
		}
		return tx.audit("quarantine.release", fmt.Sprint(q.ID), map[string]any{"recipients": q.Recipients, "copies": delivered, "skipped": skipped})
	})
	if err != nil {
		var unused []storedBody
		for _, c := range copies {
			unused = append(unused, c)
		}
		s.deleteBodies(ctx, unused)
		return fmt.Errorf("release quarantined message %d: %w", id, err)
	}
	if len(skipped) > 0 {
		s.log.Warn("released quarantined message without some recipients", "id", id, "skipped", skipped)
	}
	return nil
}

// DeleteQuarantined removes a held message and frees its body.
func (s *Store) DeleteQuarantined(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *writeTx) error {
		var q QuarantinedMessage
		if err := tx.Where("id = ?", id).Take(&q).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Where("id = ?", q.ID).Delete(&QuarantinedMessage{}).Error; err != nil {
			return err
		}
		// Frees the body after the commit unless a message references it
		// (which only a bug could cause).
		if err := releaseBlobs(tx, []string{q.BlobKey}); err != nil {
			return err
		}
		return tx.audit("quarantine.delete", fmt.Sprint(q.ID), nil)
	})
	if err != nil {
		return fmt.Errorf("delete quarantined message %d: %w", id, err)
	}
	return nil
}

// userKeyCopiesOfHeld writes, for each account of ids (nil: each
// recipient of held message id) that is in user-key mode, a copy of the
// held body sealed to their key, by user ID.
func (s *Store) userKeyCopiesOfHeld(ctx context.Context, id int64, ids []int64) (map[int64]storedBody, error) {
	var q QuarantinedMessage
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&q).Error; err != nil {
		return nil, notFound(err)
	}
	if ids == nil {
		if err := s.db.WithContext(ctx).Model(&User{}).Where("address IN ?", []string(q.Recipients)).Pluck("id", &ids).Error; err != nil {
			return nil, err
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	publics, err := s.userPublicKeys(ctx, ids)
	if err != nil || len(publics) == 0 {
		return nil, err
	}
	copies := make(map[int64]storedBody, len(publics))
	for userID, public := range publics {
		sealer, err := blobcrypt.UserSealer(public)
		if err == nil {
			var b Blob
			if b, err = s.blobs.Open(ctx, q.BlobKey); err == nil {
				var key string
				var size int64
				key, size, err = s.putRawBody(withSealer(ctx, sealer), b)
				b.Close()
				if err == nil {
					copies[userID] = storedBody{key: key, size: size}
				}
			}
		}
		if err != nil {
			var made []storedBody
			for _, c := range copies {
				made = append(made, c)
			}
			s.deleteBodies(ctx, made)
			return nil, fmt.Errorf("copy for a user-key recipient: %w", err)
		}
	}
	return copies, nil
}
