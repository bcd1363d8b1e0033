package mailstore

// The outbound queue: messages accepted for delivery to other servers.
//
// A message is stored once (its body in the blob store, like a delivered
// message) with one row per recipient. Delivery workers claim due recipients
// grouped by destination domain (ClaimDue), send, and record the outcome
// (RecordAttempts). A claim is a lease: a worker that dies mid-delivery
// leaves its recipients "delivering" until the lease ends, then they are
// claimed again. Delivery is therefore at-least-once: a crash after the
// remote server accepted a message but before RecordAttempts committed
// sends it again; nothing acknowledged is ever lost.
//
// The body of a queued message is never shared with a mailbox message or a
// quarantined one: releaseBlobs (message.go) only counts mailbox references,
// so sharing would let an expunge free a queued body.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/yubinmail/yubin/core"
)

// Statuses of an OutboundRecipient.
const (
	// QueueQueued: waiting for its next attempt (NextAttemptAt).
	QueueQueued = "queued"
	// QueueDelivering: claimed by a worker (ClaimedBy) until ClaimedUntil.
	QueueDelivering = "delivering"
	// QueueDelivered: the destination accepted it (final).
	QueueDelivered = "delivered"
	// QueueFailed: permanently refused (final).
	QueueFailed = "failed"
	// QueueExpired: still undelivered when its message expired (final). The
	// row, and the message, stay until AckExpired says the sender was told.
	QueueExpired = "expired"
)

// DefaultQueueLifetime is how long a message is retried when
// OutboundInput.Lifetime is 0.
const DefaultQueueLifetime = 5 * 24 * time.Hour

// MaxOutboundRecipients bounds the recipients of one queued message.
const MaxOutboundRecipients = 1000

// MaxRecipientsPerClaim bounds the recipients of one Claim: one SMTP
// transaction (RFC 5321 §4.5.3.1.8 requires servers to accept 100).
const MaxRecipientsPerClaim = 100

func queueModels() []any { return []any{&OutboundMessage{}, &OutboundRecipient{}} }

// OutboundMessage is a message queued for delivery to other servers. Its
// body is in the blob store under BlobKey, referenced by nothing else.
type OutboundMessage struct {
	ID      int64  `gorm:"primaryKey" json:"id"`
	BlobKey string `gorm:"size:64;not null;index" json:"-"`
	Size    int64  `gorm:"not null" json:"size"`
	// From is the envelope sender, "" for the null sender (bounces).
	From string `gorm:"column:from_addr;size:320;not null;default:''" json:"from"`
	// Domain is the sender's domain, the one the message is DKIM-signed for.
	Domain    string    `gorm:"size:253;not null;default:''" json:"domain"`
	CreatedAt time.Time `gorm:"not null;index" json:"created_at"`
	// ExpiresAt is when undelivered recipients are given up (ExpireDue).
	ExpiresAt time.Time `gorm:"not null;index" json:"expires_at"`
	// Held messages are never claimed (HoldQueued).
	Held bool `gorm:"not null;default:false" json:"held"`
	// WarnedAt is when the sender was told of the delay (MarkWarned).
	WarnedAt *time.Time `json:"warned_at,omitempty"`
}

// TableName names the outbound message table.
func (OutboundMessage) TableName() string { return "outbound_messages" }

// OutboundRecipient is one recipient of a queued message and the state of
// its delivery.
type OutboundRecipient struct {
	ID        int64  `gorm:"primaryKey" json:"id"`
	MessageID int64  `gorm:"not null;index" json:"message_id"`
	Address   string `gorm:"size:320;not null" json:"address"`
	// Domain is the recipient's domain (lower-case ASCII): the destination.
	Domain string `gorm:"size:253;not null;index" json:"domain"`
	// Status is one of QueueQueued, QueueDelivering, QueueDelivered,
	// QueueFailed, QueueExpired.
	Status        string     `gorm:"size:20;not null;index:idx_outbound_rcpt_due,priority:1" json:"status"`
	Attempts      int        `gorm:"not null;default:0" json:"attempts"`
	NextAttemptAt time.Time  `gorm:"not null;index:idx_outbound_rcpt_due,priority:2" json:"next_attempt_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	LastError     string     `gorm:"size:1000;not null;default:''" json:"last_error,omitempty"`
	LastCode      int        `gorm:"not null;default:0" json:"last_code,omitempty"`
	// ClaimedBy and ClaimedUntil are the lease of the worker delivering it.
	ClaimedBy    string     `gorm:"size:100;not null;default:''" json:"claimed_by,omitempty"`
	ClaimedUntil *time.Time `json:"claimed_until,omitempty"`
}

// TableName names the outbound recipient table.
func (OutboundRecipient) TableName() string { return "outbound_recipients" }

// queueTime is how the queue stores times: UTC, to the microsecond (what
// PostgreSQL keeps), so that stored values compare as the Go values do.
func queueTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// OutboundInput is a message to queue.
type OutboundInput struct {
	// Body is the whole message, signed if it is to be; line endings are
	// normalised to CRLF.
	Body io.Reader
	// From is the envelope sender, "" for the null sender.
	From string
	// Recipients are the envelope recipients; duplicates are dropped.
	Recipients []string
	// Lifetime is how long delivery is retried; 0 means DefaultQueueLifetime.
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
func (s *Store) Enqueue(ctx context.Context, in OutboundInput) (*OutboundMessage, error) {
	if in.Body == nil {
		return nil, fmt.Errorf("enqueue: no body: %w", core.ErrInvalid)
	}
	if len(in.Recipients) == 0 || len(in.Recipients) > MaxOutboundRecipients {
		return nil, fmt.Errorf("enqueue: %d recipients: %w", len(in.Recipients), core.ErrInvalid)
	}
	if in.Lifetime < 0 {
		return nil, fmt.Errorf("enqueue: negative lifetime: %w", core.ErrInvalid)
	}
	if in.Lifetime == 0 {
		in.Lifetime = DefaultQueueLifetime
	}
	m := OutboundMessage{}
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
	now := queueTime(time.Now())
	m.CreatedAt, m.ExpiresAt = now, now.Add(in.Lifetime)

	key, size, err := s.putBody(ctx, in.Body)
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	m.BlobKey, m.Size = key, size
	err = s.writeBody(ctx, func(tx *writeTx) error {
		// May run again after a batch rollback: start clean.
		m.ID = 0
		if err := tx.Create(&m).Error; err != nil {
			return err
		}
		rows := make([]OutboundRecipient, len(rcpts))
		for i, r := range rcpts {
			rows[i] = OutboundRecipient{MessageID: m.ID, Address: r.addr, Domain: r.domain, Status: QueueQueued, NextAttemptAt: now}
		}
		return tx.CreateInBatches(rows, 200).Error
	})
	if err != nil {
		if delErr := s.blobs.Delete(ctx, key); delErr != nil {
			s.log.Warn("remove unqueued body", "blob", key, "err", delErr)
		}
		return nil, fmt.Errorf("enqueue %s: %w", key, err)
	}
	return &m, nil
}

// OpenOutbound opens a queued message's raw bytes (CRLF line endings).
func (s *Store) OpenOutbound(ctx context.Context, msg *OutboundMessage) (io.ReadCloser, error) {
	if msg == nil || msg.BlobKey == "" {
		return nil, fmt.Errorf("open queued message: no body: %w", core.ErrInvalid)
	}
	b, err := s.blobs.Open(ctx, msg.BlobKey)
	if err != nil {
		return nil, fmt.Errorf("open queued message %d: %w", msg.ID, err)
	}
	return b, nil
}

// releaseOutbound deletes a queued message's row and its recipients', and
// frees its body after the commit unless something else references it.
func releaseOutbound(tx *writeTx, m *OutboundMessage) error {
	if err := tx.Where("message_id = ?", m.ID).Delete(&OutboundRecipient{}).Error; err != nil {
		return err
	}
	if err := tx.Where("id = ?", m.ID).Delete(&OutboundMessage{}).Error; err != nil {
		return err
	}
	var refs int64
	for _, model := range []any{&messageRow{}, &QuarantinedMessage{}, &OutboundMessage{}} {
		var n int64
		if err := tx.Model(model).Where("blob_key = ?", m.BlobKey).Count(&n).Error; err != nil {
			return err
		}
		refs += n
	}
	if refs == 0 {
		key := m.BlobKey
		tx.onCommit(func() {
			if err := tx.store.blobs.Delete(context.Background(), key); err != nil {
				tx.store.log.Warn("delete unreferenced queued body", "blob", key, "err", err)
			}
		})
	}
	return nil
}

// pendingStatuses are the statuses that keep a message in the queue: not yet
// final, or expired and not yet reported to the sender (AckExpired).
var pendingStatuses = []string{QueueQueued, QueueDelivering, QueueExpired}

// releaseIfDone releases a message none of whose recipients is pending.
func releaseIfDone(tx *writeTx, messageID int64) (bool, error) {
	var n int64
	if err := tx.Model(&OutboundRecipient{}).Where("message_id = ? AND status IN ?", messageID, pendingStatuses).Count(&n).Error; err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	var m OutboundMessage
	if err := tx.Where("id = ?", messageID).Take(&m).Error; err != nil {
		if errors.Is(notFound(err), core.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	return true, releaseOutbound(tx, &m)
}
