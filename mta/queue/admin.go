package mailstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
)

// QueueItem is a queued message with all its recipients.
type QueueItem struct {
	Message    OutboundMessage     `json:"message"`
	Recipients []OutboundRecipient `json:"recipients"`
}

// QueueHeld is a QueueFilter.Status that matches held messages.
const QueueHeld = "held"

// QueueFilter narrows ListQueue and CountQueue. Empty fields match all.
type QueueFilter struct {
	// Status matches messages with a recipient in that status (QueueQueued,
	// ...), or, for QueueHeld, held messages.
	Status string
	// Domain matches messages with a recipient in that domain.
	Domain string
	Limit  int // 0 = no limit
	Offset int
}

func (s *Store) queueQuery(ctx context.Context, f QueueFilter) (*gorm.DB, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, fmt.Errorf("limit and offset must not be negative: %w", core.ErrInvalid)
	}
	q := s.db.WithContext(ctx).Model(&OutboundMessage{})
	rcpts := s.db.Model(&OutboundRecipient{}).Select("message_id")
	narrow := false
	switch f.Status {
	case "":
	case QueueHeld:
		q = q.Where("held = ?", true)
	case QueueQueued, QueueDelivering, QueueDelivered, QueueFailed, QueueExpired:
		rcpts = rcpts.Where("status = ?", f.Status)
		narrow = true
	default:
		return nil, fmt.Errorf("queue status %q: %w", f.Status, core.ErrInvalid)
	}
	if f.Domain != "" {
		d, err := core.NormalizeDomain(f.Domain)
		if err != nil {
			return nil, err
		}
		rcpts = rcpts.Where("domain = ?", d)
		narrow = true
	}
	if narrow {
		q = q.Where("id IN (?)", rcpts)
	}
	return q, nil
}

// ListQueue returns queued messages with their recipients, the most recent
// first.
func (s *Store) ListQueue(ctx context.Context, f QueueFilter) ([]QueueItem, error) {
	q, err := s.queueQuery(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	q = q.Order("created_at DESC").Order("id DESC")
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	if f.Offset > 0 {
		q = q.Offset(f.Offset)
	}
	var ms []OutboundMessage
	if err := q.Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	items, err := queueItems(s.db.WithContext(ctx), ms)
	if err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	return items, nil
}

// CountQueue returns how many messages ListQueue would return without Limit
// and Offset.
func (s *Store) CountQueue(ctx context.Context, f QueueFilter) (int64, error) {
	f.Limit, f.Offset = 0, 0
	q, err := s.queueQuery(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("count queue: %w", err)
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count queue: %w", err)
	}
	return n, nil
}

// queueItems loads the recipients of ms.
func queueItems(db *gorm.DB, ms []OutboundMessage) ([]QueueItem, error) {
	items := make([]QueueItem, len(ms))
	index := make(map[int64]int, len(ms))
	ids := make([]int64, len(ms))
	for i, m := range ms {
		items[i].Message = m
		index[m.ID] = i
		ids[i] = m.ID
	}
	for chunk := range slices.Chunk(ids, 500) {
		var rows []OutboundRecipient
		if err := db.Where("message_id IN ?", chunk).Order("id").Find(&rows).Error; err != nil {
			return nil, err
		}
		for _, r := range rows {
			i := index[r.MessageID]
			items[i].Recipients = append(items[i].Recipients, r)
		}
	}
	return items, nil
}

// GetQueued returns a queued message with its recipients.
func (s *Store) GetQueued(ctx context.Context, id int64) (*QueueItem, error) {
	var m OutboundMessage
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&m).Error; err != nil {
		return nil, fmt.Errorf("get queued message %d: %w", id, notFound(err))
	}
	items, err := queueItems(s.db.WithContext(ctx), []OutboundMessage{m})
	if err != nil {
		return nil, fmt.Errorf("get queued message %d: %w", id, err)
	}
	return &items[0], nil
}

// RetryNow makes the queued recipients of a message due at once (a held
// message stays held).
func (s *Store) RetryNow(ctx context.Context, id int64) error {
	now := queueTime(time.Now())
	err := s.write(ctx, func(tx *writeTx) error {
		var n int64
		if err := tx.Model(&OutboundMessage{}).Where("id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return core.ErrNotFound
		}
		res := tx.Model(&OutboundRecipient{}).Where("message_id = ? AND status = ?", id, QueueQueued).Update("next_attempt_at", now)
		if res.Error != nil {
			return res.Error
		}
		return tx.audit("queue.retry", fmt.Sprint(id), map[string]any{"recipients": res.RowsAffected})
	})
	if err != nil {
		return fmt.Errorf("retry queued message %d: %w", id, err)
	}
	return nil
}

// HoldQueued holds a queued message (it is not delivered, nor expired, until
// released) or, with held false, releases it.
func (s *Store) HoldQueued(ctx context.Context, id int64, held bool) error {
	err := s.write(ctx, func(tx *writeTx) error {
		var m OutboundMessage
		if err := tx.Select("id", "held").Where("id = ?", id).Take(&m).Error; err != nil {
			return notFound(err)
		}
		if m.Held == held {
			return nil
		}
		if err := tx.Model(&OutboundMessage{}).Where("id = ?", id).Update("held", held).Error; err != nil {
			return err
		}
		action := "queue.hold"
		if !held {
			action = "queue.release"
		}
		return tx.audit(action, fmt.Sprint(id), nil)
	})
	if err != nil {
		return fmt.Errorf("hold queued message %d: %w", id, err)
	}
	return nil
}

// DeleteQueued removes a message from the queue, whatever the state of its
// recipients, and frees its body. Nobody is told. A worker delivering it at
// the time finishes its attempt; its RecordAttempts is then ignored.
func (s *Store) DeleteQueued(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *writeTx) error {
		var m OutboundMessage
		if err := tx.Where("id = ?", id).Take(&m).Error; err != nil {
			return notFound(err)
		}
		var pending int64
		if err := tx.Model(&OutboundRecipient{}).Where("message_id = ? AND status IN ?", id, pendingStatuses).Count(&pending).Error; err != nil {
			return err
		}
		if err := releaseOutbound(tx, &m); err != nil {
			return err
		}
		return tx.audit("queue.delete", fmt.Sprint(id), map[string]any{"from": m.From, "pending": pending})
	})
	if err != nil {
		return fmt.Errorf("delete queued message %d: %w", id, err)
	}
	return nil
}
