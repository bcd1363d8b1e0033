package queue

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/sqltext"
)

// Claim is work for one delivery worker: recipients of one message that
// share one destination domain (one SMTP transaction), leased to the worker.
type Claim struct {
	Message    Message
	Recipients []Recipient // status StatusDelivering, ascending IDs
}

// whereClaimable narrows a query on outbound_recipients (joined with
// outbound_messages) to recipients a worker may take at now: queued and
// due, or delivering under a lease that ended (its worker died), of a
// message that is neither held nor expired.
func whereClaimable(q *gorm.DB, now time.Time) *gorm.DB {
	return q.Joins("JOIN outbound_messages ON outbound_messages.id = outbound_recipients.message_id").
		Where("((outbound_recipients.status = ? AND outbound_recipients.next_attempt_at <= ?) OR (outbound_recipients.status = ? AND outbound_recipients.claimed_until <= ?))",
			StatusQueued, now, StatusDelivering, now).
		Where("outbound_messages.held = ? AND outbound_messages.expires_at > ?", false, now)
}

// ClaimDue leases due recipients to worker for lease: at most limit claims,
// each all the due recipients (up to MaxRecipientsPerClaim) of one message
// for one destination domain, the longest waiting first. Claimed recipients
// become StatusDelivering with ClaimedBy = worker and ClaimedUntil = now +
// lease; nobody else claims them until the lease ends. The worker reports
// with RecordAttempts before then (a lease that ends makes the recipients
// claimable again: a crashed worker's mail is retried, not lost).
func (q *Queue) ClaimDue(ctx context.Context, worker string, now time.Time, limit int, lease time.Duration) ([]Claim, error) {
	if worker == "" || len(worker) > 100 || limit <= 0 || lease <= 0 {
		return nil, fmt.Errorf("claim queued mail: worker %q, limit %d, lease %v: %w", worker, limit, lease, core.ErrInvalid)
	}
	now = dbTime(now)
	until := now.Add(lease)
	var claims []Claim
	// SQLite has one writer: selecting and marking in one write transaction
	// is atomic against every other worker, in this process or another. On
	// PostgreSQL several nodes claim at once: each group's recipients are
	// selected FOR UPDATE SKIP LOCKED, so a recipient another transaction
	// is claiming is passed over instead of waited for (or claimed twice),
	// and more groups than limit are looked at so that workers that chose
	// the same groups still find work. On both, the guarded UPDATE (still
	// claimable) never double-claims and the re-read below counts what it
	// took.
	err := q.write(ctx, func(tx *txn) error {
		claims = nil
		postgres := q.db.Dialect().IsPostgres()
		groupLimit := limit
		if postgres {
			groupLimit = limit * 4
		}
		var groups []struct {
			MessageID int64
			Domain    string
		}
		err := whereClaimable(tx.Model(&Recipient{}), now).
			Select("outbound_recipients.message_id, outbound_recipients.domain").
			Group("outbound_recipients.message_id, outbound_recipients.domain").
			Order("MIN(outbound_recipients.next_attempt_at), outbound_recipients.message_id, outbound_recipients.domain").
			Limit(groupLimit).Scan(&groups).Error
		if err != nil {
			return err
		}
		for _, g := range groups {
			if len(claims) == limit {
				break
			}
			var ids []int64
			sel := whereClaimable(tx.Model(&Recipient{}), now).
				Where("outbound_recipients.message_id = ? AND outbound_recipients.domain = ?", g.MessageID, g.Domain).
				Order("outbound_recipients.id").Limit(MaxRecipientsPerClaim)
			if postgres {
				sel = sel.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate,
					Table: clause.Table{Name: "outbound_recipients"}, Options: clause.LockingOptionsSkipLocked})
			}
			err := sel.Pluck("outbound_recipients.id", &ids).Error
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				continue
			}
			res := tx.Model(&Recipient{}).
				Where("id IN ?", ids).
				Where("((status = ? AND next_attempt_at <= ?) OR (status = ? AND claimed_until <= ?))", StatusQueued, now, StatusDelivering, now).
				Updates(map[string]any{"status": StatusDelivering, "claimed_by": worker, "claimed_until": until})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				continue
			}
			var c Claim
			if err := tx.Where("id = ?", g.MessageID).Take(&c.Message).Error; err != nil {
				return err
			}
			err = tx.Where("id IN ? AND status = ? AND claimed_by = ? AND claimed_until = ?", ids, StatusDelivering, worker, until).
				Order("id").Find(&c.Recipients).Error
			if err != nil {
				return err
			}
			if len(c.Recipients) > 0 {
				claims = append(claims, c)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim queued mail for %s: %w", worker, err)
	}
	return claims, nil
}

// Reclaim makes the recipients claimed by workers whose ID starts
// with prefix due again at once, whatever their lease: for a server that
// starts on a data folder whose lock proves the previous process (the
// owner of those claims) dead. Claims of other nodes sharing the database
// keep their lease. It returns how many recipients it took back.
func (q *Queue) Reclaim(ctx context.Context, prefix string) (int64, error) {
	if prefix == "" {
		return 0, fmt.Errorf("reclaim outbound claims: empty prefix: %w", core.ErrInvalid)
	}
	now := dbTime(time.Now())
	var n int64
	err := q.write(ctx, func(tx *txn) error {
		mine, args := sqltext.HasPrefix("claimed_by", prefix)
		res := tx.Model(&Recipient{}).
			Where("status = ?", StatusDelivering).Where(mine, args...).
			Updates(map[string]any{"status": StatusQueued, "claimed_by": "", "claimed_until": nil, "next_attempt_at": now})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("reclaim outbound claims of %s: %w", prefix, err)
	}
	return n, nil
}

// AttemptResult is the outcome of a delivery attempt for one recipient.
type AttemptResult struct {
	RecipientID int64
	// Delivered: the destination accepted the message.
	Delivered bool
	// Permanent: the destination refused it for good (5xx); the recipient
	// fails. Otherwise (neither) it is retried at NextAttemptAt.
	Permanent bool
	// Code and Error are the SMTP reply code and text (or a local error).
	Code  int
	Error string
	// NextAttemptAt is when to retry a temporary failure; zero means now.
	NextAttemptAt time.Time
}

// RecordAttempts records the outcome of attempts on recipients of message
// messageID that are being delivered (claimed): each becomes delivered,
// failed, or queued again for NextAttemptAt, with Attempts counted.
// Results for recipients that are not being delivered (deleted, or never
// claimed) are ignored. Once no recipient of the message is pending, the
// message is removed from the queue and its body freed, so a caller that
// bounces permanent failures with the body must do so (enqueue the bounce)
// before recording them: a crash in between then repeats the attempt and
// perhaps the bounce, but never loses it.
func (q *Queue) RecordAttempts(ctx context.Context, messageID int64, results []AttemptResult) error {
	now := dbTime(time.Now())
	err := q.write(ctx, func(tx *txn) error {
		for _, r := range results {
			upd := map[string]any{
				"attempts":        gorm.Expr("attempts + 1"),
				"last_attempt_at": now,
				"last_code":       r.Code,
				"last_error":      core.OneLine(r.Error, 1000),
				"claimed_by":      "",
				"claimed_until":   nil,
			}
			switch {
			case r.Delivered:
				upd["status"] = StatusDelivered
			case r.Permanent:
				upd["status"] = StatusFailed
			default:
				next := now
				if !r.NextAttemptAt.IsZero() {
					next = dbTime(r.NextAttemptAt)
				}
				upd["status"], upd["next_attempt_at"] = StatusQueued, next
			}
			err := tx.Model(&Recipient{}).
				Where("id = ? AND message_id = ? AND status = ?", r.RecipientID, messageID, StatusDelivering).
				Updates(upd).Error
			if err != nil {
				return err
			}
		}
		_, err := releaseIfDone(tx, messageID)
		return err
	})
	if err != nil {
		return fmt.Errorf("record delivery attempts of queued message %d: %w", messageID, err)
	}
	return nil
}

// ExpiredRecipient is a recipient given up on, for the sender's bounce.
type ExpiredRecipient struct {
	Message   Message
	Recipient Recipient
}

// maxExpiredBatch bounds what one ExpireDue call returns.
const maxExpiredBatch = 1000

// ExpireDue gives up the recipients of messages past their ExpiresAt that
// are still queued (or whose delivery lease ended), marking them expired,
// and returns every expired recipient not yet acknowledged with AckExpired
// (those just marked and any an earlier call returned), ordered by message,
// at most 1000. Held messages do not expire while held. The message and its
// body stay in the queue until its expired recipients are acknowledged, so
// the caller can bounce with the body, then call AckExpired: a crash in
// between repeats the bounce rather than losing it.
func (q *Queue) ExpireDue(ctx context.Context, now time.Time) ([]ExpiredRecipient, error) {
	now = dbTime(now)
	var out []ExpiredRecipient
	err := q.write(ctx, func(tx *txn) error {
		out = nil
		expired := tx.Model(&Message{}).Select("id").Where("expires_at <= ? AND held = ?", now, false)
		err := tx.Model(&Recipient{}).
			Where("message_id IN (?)", expired).
			Where("(status = ? OR (status = ? AND claimed_until <= ?))", StatusQueued, StatusDelivering, now).
			Updates(map[string]any{"status": StatusExpired, "claimed_by": "", "claimed_until": nil}).Error
		if err != nil {
			return err
		}
		var rows []Recipient
		if err := tx.Where("status = ?", StatusExpired).Order("message_id, id").Limit(maxExpiredBatch).Find(&rows).Error; err != nil {
			return err
		}
		msgs, err := messagesByID(tx.DB, rows)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if m, ok := msgs[r.MessageID]; ok {
				out = append(out, ExpiredRecipient{Message: m, Recipient: r})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("expire queued mail: %w", err)
	}
	return out, nil
}

func messagesByID(db *gorm.DB, rows []Recipient) (map[int64]Message, error) {
	var ids []int64
	for _, r := range rows {
		if !slices.Contains(ids, r.MessageID) {
			ids = append(ids, r.MessageID)
		}
	}
	out := make(map[int64]Message, len(ids))
	for chunk := range slices.Chunk(ids, 500) {
		var ms []Message
		if err := db.Where("id IN ?", chunk).Find(&ms).Error; err != nil {
			return nil, err
		}
		for _, m := range ms {
			out[m.ID] = m
		}
	}
	return out, nil
}

// AckExpired says the senders of these expired recipients (from ExpireDue)
// were told: their rows are removed, and so is each message left with no
// pending recipient, with its body. Unknown IDs and recipients that are not
// expired are ignored.
func (q *Queue) AckExpired(ctx context.Context, recipientIDs []int64) error {
	if len(recipientIDs) == 0 {
		return nil
	}
	err := q.write(ctx, func(tx *txn) error {
		var msgIDs []int64
		for chunk := range slices.Chunk(recipientIDs, 500) {
			var ids []int64
			if err := tx.Model(&Recipient{}).Where("id IN ? AND status = ?", chunk, StatusExpired).Distinct().Pluck("message_id", &ids).Error; err != nil {
				return err
			}
			for _, id := range ids {
				if !slices.Contains(msgIDs, id) {
					msgIDs = append(msgIDs, id)
				}
			}
			if err := tx.Where("id IN ? AND status = ?", chunk, StatusExpired).Delete(&Recipient{}).Error; err != nil {
				return err
			}
		}
		for _, id := range msgIDs {
			if _, err := releaseIfDone(tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("acknowledge expired recipients: %w", err)
	}
	return nil
}

// maxWarningsBatch bounds what one DueWarnings call returns.
const maxWarningsBatch = 1000

// DueWarnings returns the messages queued for longer than after (at now)
// that still have recipients waiting (queued or delivering), have not
// expired, and whose sender was not warned yet (WarnedAt), each with all
// its recipients; at most 1000. Messages from the null sender are left out:
// nobody can be warned. Call MarkWarned once the warning is queued.
func (q *Queue) DueWarnings(ctx context.Context, now time.Time, after time.Duration) ([]Item, error) {
	now = dbTime(now)
	waiting := q.db.ReadDB(ctx).Model(&Recipient{}).Select("message_id").Where("status IN ?", []string{StatusQueued, StatusDelivering})
	var ms []Message
	err := q.db.ReadDB(ctx).
		Where("created_at <= ? AND expires_at > ? AND warned_at IS NULL AND from_addr <> ?", now.Add(-after), now, "").
		Where("id IN (?)", waiting).
		Order("id").Limit(maxWarningsBatch).Find(&ms).Error
	if err != nil {
		return nil, fmt.Errorf("list delayed queued mail: %w", err)
	}
	items, err := loadItems(q.db.ReadDB(ctx), ms)
	if err != nil {
		return nil, fmt.Errorf("list delayed queued mail: %w", err)
	}
	return items, nil
}

// MarkWarned records that the sender of a queued message was warned of the
// delay (it is no longer returned by DueWarnings).
func (q *Queue) MarkWarned(ctx context.Context, id int64) error {
	now := dbTime(time.Now())
	err := q.write(ctx, func(tx *txn) error {
		res := tx.Model(&Message{}).Where("id = ?", id).Update("warned_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return core.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark queued message %d warned: %w", id, err)
	}
	return nil
}
