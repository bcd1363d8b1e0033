// Package queue is the outbound queue: messages accepted for delivery to
// other servers, and the state of each recipient's delivery. It owns its
// tables (outbound_messages, outbound_recipients) and their SQL; it reaches
// the database and the body store through Database and Bodies, which the
// mailstore implements.
//
// A message is stored once (its body in the body store, like a delivered
// message) with one row per recipient. Delivery workers (mta/outbound)
// claim due recipients grouped by destination domain (ClaimDue), send, and
// record the outcome (RecordAttempts). A claim is a lease: a worker that
// dies mid-delivery leaves its recipients "delivering" until the lease
// ends, then they are claimed again. Delivery is therefore at-least-once: a
// crash after the remote server accepted a message but before
// RecordAttempts committed sends it again; nothing acknowledged is ever
// lost.
//
// The body of a queued message is never shared with a mailbox message or a
// quarantined one (Enqueue always stores a new one): the mailstore frees
// bodies by counting its own references only.
package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/db"
)

// Database is the database the queue keeps its tables in: the mailstore's
// today (its reader pool and its group-commit writer).
type Database interface {
	db.Tables
	// AuditTx records an administrative action in tx on behalf of the
	// actor tx's context carries.
	AuditTx(tx *gorm.DB, action, target string, details any) error
}

// Bodies stores the bodies of queued messages.
type Bodies interface {
	// PutBody stores a body, line endings normalised to CRLF; it is
	// durable once a WriteTx with bodies set that references it is.
	PutBody(ctx context.Context, r io.Reader) (key string, size int64, err error)
	// OpenBody opens a stored body.
	OpenBody(ctx context.Context, key string) (io.ReadCloser, error)
	// DeleteBody removes a body; a missing one is no error.
	DeleteBody(ctx context.Context, key string) error
}

// Queue is the outbound queue.
type Queue struct {
	db     Database
	bodies Bodies
	log    *slog.Logger
}

// Open returns the queue kept in db, with bodies in bodies, creating or
// updating its tables.
func Open(ctx context.Context, db Database, bodies Bodies, log *slog.Logger) (*Queue, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := db.MigrateTables(ctx, "queue", Models()...); err != nil {
		return nil, fmt.Errorf("open the outbound queue: %w", err)
	}
	return &Queue{db: db, bodies: bodies, log: log}, nil
}

// Statuses of a Recipient.
const (
	// StatusQueued: waiting for its next attempt (NextAttemptAt).
	StatusQueued = "queued"
	// StatusDelivering: claimed by a worker (ClaimedBy) until ClaimedUntil.
	StatusDelivering = "delivering"
	// StatusDelivered: the destination accepted it (final).
	StatusDelivered = "delivered"
	// StatusFailed: permanently refused (final).
	StatusFailed = "failed"
	// StatusExpired: still undelivered when its message expired (final). The
	// row, and the message, stay until AckExpired says the sender was told.
	StatusExpired = "expired"
)

// DefaultLifetime is how long a message is retried when
// Input.Lifetime is 0.
const DefaultLifetime = 5 * 24 * time.Hour

// MaxRecipients bounds the recipients of one queued message.
const MaxRecipients = 1000

// MaxRecipientsPerClaim bounds the recipients of one Claim: one SMTP
// transaction (RFC 5321 §4.5.3.1.8 requires servers to accept 100).
const MaxRecipientsPerClaim = 100

// Models are the queue's tables.
func Models() []any { return []any{&Message{}, &Recipient{}} }

// Message is a message queued for delivery to other servers. Its
// body is in the blob store under BlobKey, referenced by nothing else.
type Message struct {
	ID      int64  `gorm:"primaryKey"`
	BlobKey string `gorm:"size:64;not null;index"`
	Size    int64  `gorm:"not null"`
	// From is the envelope sender, "" for the null sender (bounces).
	From string `gorm:"column:from_addr;size:320;not null;default:''"`
	// Domain is the sender's domain, the one the message is DKIM-signed for.
	Domain    string    `gorm:"size:253;not null;default:''"`
	CreatedAt time.Time `gorm:"not null;index"`
	// ExpiresAt is when undelivered recipients are given up (ExpireDue).
	ExpiresAt time.Time `gorm:"not null;index"`
	// Held messages are never claimed (Hold).
	Held bool `gorm:"not null;default:false"`
	// WarnedAt is when the sender was told of the delay (MarkWarned).
	WarnedAt *time.Time
}

// TableName names the outbound message table.
func (Message) TableName() string { return "outbound_messages" }

// Recipient is one recipient of a queued message and the state of
// its delivery.
type Recipient struct {
	ID        int64  `gorm:"primaryKey"`
	MessageID int64  `gorm:"not null;index"`
	Address   string `gorm:"size:320;not null"`
	// Domain is the recipient's domain (lower-case ASCII): the destination.
	Domain string `gorm:"size:253;not null;index"`
	// Status is one of StatusQueued, StatusDelivering, StatusDelivered,
	// StatusFailed, StatusExpired.
	Status        string    `gorm:"size:20;not null;index:idx_outbound_rcpt_due,priority:1"`
	Attempts      int       `gorm:"not null;default:0"`
	NextAttemptAt time.Time `gorm:"not null;index:idx_outbound_rcpt_due,priority:2"`
	LastAttemptAt *time.Time
	LastError     string `gorm:"size:1000;not null;default:''"`
	LastCode      int    `gorm:"not null;default:0"`
	// ClaimedBy and ClaimedUntil are the lease of the worker delivering it.
	ClaimedBy    string `gorm:"size:100;not null;default:''"`
	ClaimedUntil *time.Time
}

// TableName names the outbound recipient table.
func (Recipient) TableName() string { return "outbound_recipients" }

// dbTime is how the queue stores times: UTC, to the microsecond (what
// PostgreSQL keeps), so that stored values compare as the Go values do.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Input is a message to queue.
type Input struct {
	// Body is the whole message, signed if it is to be; line endings are
	// normalised to CRLF.
	Body io.Reader
	// From is the envelope sender, "" for the null sender.
	From string
	// Recipients are the envelope recipients; duplicates are dropped.
	Recipients []string
	// Lifetime is how long delivery is retried; 0 means DefaultLifetime.
	Lifetime time.Duration
	// Domain overrides the DKIM signing domain, which is otherwise From's
	// domain (set it for the null sender's bounces: the server's domain).
	Domain string
}

// outboundAddress validates an address for the queue and returns it with
// its domain normalised (lower-case A-labels) and its local part kept as
// given (the destination decides whether case matters), and the domain.
func outboundAddress(s string) (addr, domain string, err error) {
	a, err := core.ParseAddress(s)
	if err != nil {
		return "", "", err
	}
	local := s[:strings.LastIndexByte(s, '@')]
	return local + "@" + a.Domain, a.Domain, nil
}

// Enqueue queues a message for delivery. When it returns without error the
// body and every recipient row are durable (committed in one transaction
// after the body was flushed), so the submitting client may be told 250.
// Each recipient is due at once.
func (q *Queue) Enqueue(ctx context.Context, in Input) (*Message, error) {
	if in.Body == nil {
		return nil, fmt.Errorf("enqueue: no body: %w", core.ErrInvalid)
	}
	if len(in.Recipients) == 0 || len(in.Recipients) > MaxRecipients {
		return nil, fmt.Errorf("enqueue: %d recipients: %w", len(in.Recipients), core.ErrInvalid)
	}
	if in.Lifetime < 0 {
		return nil, fmt.Errorf("enqueue: negative lifetime: %w", core.ErrInvalid)
	}
	if in.Lifetime == 0 {
		in.Lifetime = DefaultLifetime
	}
	m := Message{}
	if in.From != "" {
		from, dom, err := outboundAddress(in.From)
		if err != nil {
			return nil, fmt.Errorf("enqueue: sender: %w", err)
		}
		m.From, m.Domain = from, dom
	}
	if in.Domain != "" {
		d, err := core.NormalizeDomain(in.Domain)
		if err != nil {
			return nil, fmt.Errorf("enqueue: signing domain: %w", err)
		}
		m.Domain = d
	}
	type rcpt struct{ addr, domain string }
	var rcpts []rcpt
	seen := map[string]bool{}
	for _, r := range in.Recipients {
		addr, dom, err := outboundAddress(r)
		if err != nil {
			return nil, fmt.Errorf("enqueue: recipient: %w", err)
		}
		if !seen[addr] {
			seen[addr] = true
			rcpts = append(rcpts, rcpt{addr, dom})
		}
	}
	now := dbTime(time.Now())
	m.CreatedAt, m.ExpiresAt = now, now.Add(in.Lifetime)

	key, size, err := q.bodies.PutBody(ctx, in.Body)
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	m.BlobKey, m.Size = key, size
	err = q.writeBodies(ctx, func(tx *txn) error {
		// May run again after a batch rollback: start clean.
		m.ID = 0
		if err := tx.Create(&m).Error; err != nil {
			return err
		}
		rows := make([]Recipient, len(rcpts))
		for i, r := range rcpts {
			rows[i] = Recipient{MessageID: m.ID, Address: r.addr, Domain: r.domain, Status: StatusQueued, NextAttemptAt: now}
		}
		return tx.CreateInBatches(rows, 200).Error
	})
	if err != nil {
		if delErr := q.bodies.DeleteBody(ctx, key); delErr != nil {
			q.log.Warn("remove unqueued body", "blob", key, "err", delErr)
		}
		return nil, fmt.Errorf("enqueue %s: %w", key, err)
	}
	return &m, nil
}

// OpenBody opens a queued message's raw bytes (CRLF line endings).
func (q *Queue) OpenBody(ctx context.Context, msg *Message) (io.ReadCloser, error) {
	if msg == nil || msg.BlobKey == "" {
		return nil, fmt.Errorf("open queued message: no body: %w", core.ErrInvalid)
	}
	b, err := q.bodies.OpenBody(ctx, msg.BlobKey)
	if err != nil {
		return nil, fmt.Errorf("open queued message %d: %w", msg.ID, err)
	}
	return b, nil
}

// release deletes a queued message's row and its recipients', and frees
// its body after the commit unless another queued message references it
// (none does: Enqueue stores a new body each time).
func release(tx *txn, m *Message) error {
	if err := tx.Where("message_id = ?", m.ID).Delete(&Recipient{}).Error; err != nil {
		return err
	}
	if err := tx.Where("id = ?", m.ID).Delete(&Message{}).Error; err != nil {
		return err
	}
	var refs int64
	if err := tx.Model(&Message{}).Where("blob_key = ?", m.BlobKey).Count(&refs).Error; err != nil {
		return err
	}
	if refs == 0 {
		key := m.BlobKey
		tx.afterCommit(func() {
			if err := tx.q.bodies.DeleteBody(context.Background(), key); err != nil {
				tx.q.log.Warn("delete unreferenced queued body", "blob", key, "err", err)
			}
		})
	}
	return nil
}

// pendingStatuses are the statuses that keep a message in the queue: not yet
// final, or expired and not yet reported to the sender (AckExpired).
var pendingStatuses = []string{StatusQueued, StatusDelivering, StatusExpired}

// releaseIfDone releases a message none of whose recipients is pending.
func releaseIfDone(tx *txn, messageID int64) (bool, error) {
	var n int64
	if err := tx.Model(&Recipient{}).Where("message_id = ? AND status IN ?", messageID, pendingStatuses).Count(&n).Error; err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	var m Message
	if err := tx.Where("id = ?", messageID).Take(&m).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return false, nil
		}
		return false, err
	}
	return true, release(tx, &m)
}

// txn is a write transaction of the queue.
type txn struct {
	*gorm.DB
	q           *Queue
	afterCommit func(func())
}

// audit records an administrative action in the transaction.
func (tx *txn) audit(action, target string, details any) error {
	return tx.q.db.AuditTx(tx.DB, action, target, details)
}

// write runs fn in a write transaction (see Database.WriteTx).
func (q *Queue) write(ctx context.Context, fn func(tx *txn) error) error {
	return q.db.WriteTx(ctx, false, func(tx *gorm.DB, afterCommit func(func())) error {
		return fn(&txn{DB: tx, q: q, afterCommit: afterCommit})
	})
}

// writeBodies is write for a transaction that references bodies from
// Bodies.PutBody.
func (q *Queue) writeBodies(ctx context.Context, fn func(tx *txn) error) error {
	return q.db.WriteTx(ctx, true, func(tx *gorm.DB, afterCommit func(func())) error {
		return fn(&txn{DB: tx, q: q, afterCommit: afterCommit})
	})
}

// gormNotFound turns gorm's "record not found" into core.ErrNotFound.
func gormNotFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return core.ErrNotFound
	}
	return err
}
