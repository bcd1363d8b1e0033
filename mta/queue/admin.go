package queue

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
)

// Item is a queued message with all its recipients.
type Item struct {
	Message    Message
	Recipients []Recipient
}

// StatusHeld is a Filter.Status that matches held messages.
const StatusHeld = "held"

// Filter narrows List and Count. Empty fields match all.
type Filter struct {
	// Status matches messages with a recipient in that status (StatusQueued,
	// ...), or, for StatusHeld, held messages.
	Status string
	// Domain matches messages with a recipient in that domain.
	Domain string
	Limit  int // 0 = no limit
	Offset int
}

// filtered selects the messages f matches.
func (q *Queue) filtered(ctx context.Context, f Filter) (*gorm.DB, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, fmt.Errorf("limit and offset must not be negative: %w", core.ErrInvalid)
	}
	db := q.db.ReadDB(ctx)
	sel := db.Model(&Message{})
	rcpts := db.Model(&Recipient{}).Select("message_id")
	narrow := false
	switch f.Status {
	case "":
	case StatusHeld:
		sel = sel.Where("held = ?", true)
	case StatusQueued, StatusDelivering, StatusDelivered, StatusFailed, StatusExpired:
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
		sel = sel.Where("id IN (?)", rcpts)
	}
	return sel, nil
}

// List returns queued messages with their recipients, the most recent
// first.
func (q *Queue) List(ctx context.Context, f Filter) ([]Item, error) {
	sel, err := q.filtered(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	sel = sel.Order("created_at DESC").Order("id DESC")
	if f.Limit > 0 {
		sel = sel.Limit(f.Limit)
	}
	if f.Offset > 0 {
		sel = sel.Offset(f.Offset)
	}
	var ms []Message
	if err := sel.Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	items, err := loadItems(q.db.ReadDB(ctx), ms)
	if err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	return items, nil
}

// Count returns how many messages List would return without Limit
// and Offset.
func (q *Queue) Count(ctx context.Context, f Filter) (int64, error) {
	f.Limit, f.Offset = 0, 0
	sel, err := q.filtered(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("count queue: %w", err)
	}
	var n int64
	if err := sel.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count queue: %w", err)
	}
	return n, nil
}

// loadItems loads the recipients of ms.
func loadItems(db *gorm.DB, ms []Message) ([]Item, error) {
	items := make([]Item, len(ms))
	index := make(map[int64]int, len(ms))
	ids := make([]int64, len(ms))
	for i, m := range ms {
		items[i].Message = m
		index[m.ID] = i
		ids[i] = m.ID
	}
	for chunk := range slices.Chunk(ids, 500) {
		var rows []Recipient
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

// Get returns a queued message with its recipients.
func (q *Queue) Get(ctx context.Context, id int64) (*Item, error) {
	var m Message
	if err := q.db.ReadDB(ctx).Where("id = ?", id).Take(&m).Error; err != nil {
		return nil, fmt.Errorf("get queued message %d: %w", id, gormNotFound(err))
	}
	items, err := loadItems(q.db.ReadDB(ctx), []Message{m})
	if err != nil {
		return nil, fmt.Errorf("get queued message %d: %w", id, err)
	}
	return &items[0], nil
}

// RetryNow makes the queued recipients of a message due at once (a held
// message stays held).
func (q *Queue) RetryNow(ctx context.Context, id int64) error {
	now := dbTime(time.Now())
	err := q.write(ctx, func(tx *txn) error {
		var n int64
		if err := tx.Model(&Message{}).Where("id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return core.ErrNotFound
		}
		res := tx.Model(&Recipient{}).Where("message_id = ? AND status = ?", id, StatusQueued).Update("next_attempt_at", now)
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

// Hold holds a queued message (it is not delivered, nor expired, until
// released) or, with held false, releases it.
func (q *Queue) Hold(ctx context.Context, id int64, held bool) error {
	err := q.write(ctx, func(tx *txn) error {
		var m Message
		if err := tx.Select("id", "held").Where("id = ?", id).Take(&m).Error; err != nil {
			return gormNotFound(err)
		}
		if m.Held == held {
			return nil
		}
		if err := tx.Model(&Message{}).Where("id = ?", id).Update("held", held).Error; err != nil {
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

// Delete removes a message from the queue, whatever the state of its
// recipients, and frees its body. Nobody is told. A worker delivering it at
// the time finishes its attempt; its RecordAttempts is then ignored.
func (q *Queue) Delete(ctx context.Context, id int64) error {
	err := q.write(ctx, func(tx *txn) error {
		var m Message
		if err := tx.Where("id = ?", id).Take(&m).Error; err != nil {
			return gormNotFound(err)
		}
		var pending int64
		if err := tx.Model(&Recipient{}).Where("message_id = ? AND status IN ?", id, pendingStatuses).Count(&pending).Error; err != nil {
			return err
		}
		if err := release(tx, &m); err != nil {
			return err
		}
		return tx.audit("queue.delete", fmt.Sprint(id), map[string]any{"from": m.From, "pending": pending})
	})
	if err != nil {
		return fmt.Errorf("delete queued message %d: %w", id, err)
	}
	return nil
}
