package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mta/queue"
)

// Outbound queue visibility: server admins see and manage every queued
// message; domain admins those whose envelope sender is in one of their
// domains (notifications, sent from the null sender, are the server's);
// users none.

// QueueFilter selects queued messages.
type QueueFilter struct {
	// Status matches messages with a recipient in that status (queued,
	// delivering, delivered, failed, expired) or, for "held", held ones.
	Status string
	// Domain matches messages with a recipient in that domain (their
	// destination).
	Domain string
	Page
}

// queueScanChunk is how many messages a filtered listing reads at once.
const queueScanChunk = 500

// seesQueued reports whether the actor may see and manage a queued message.
func (a Actor) seesQueued(m *queue.Message) bool {
	switch {
	case a.IsAdmin():
		return true
	case a.Role == RoleDomainAdmin && m.From != "":
		return a.ManagesDomain(domainOf(m.From))
	}
	return false
}

// mayUseQueue refuses actors who can see nothing of the queue.
func (a Actor) mayUseQueue() error {
	if a.IsAdmin() || a.Role == RoleDomainAdmin {
		return nil
	}
	return forbidden("the outbound queue")
}

// Queue is the outbound queue as the service manages it (queue.Queue).
type Queue interface {
	List(ctx context.Context, f queue.Filter) ([]queue.Item, error)
	Count(ctx context.Context, f queue.Filter) (int64, error)
	Get(ctx context.Context, id int64) (*queue.Item, error)
	RetryNow(ctx context.Context, id int64) error
	Hold(ctx context.Context, id int64, held bool) error
	Delete(ctx context.Context, id int64) error
}

// WithQueue gives the service the outbound queue to manage; without one
// the queue's operations fail.
func (s *Service) WithQueue(q Queue) *Service {
	s.queue = q
	return s
}

// haveQueue refuses queue operations on a service without a queue.
func (s *Service) haveQueue() error {
	if s.queue == nil {
		return fmt.Errorf("the outbound queue is not available here: %w", core.ErrConflict)
	}
	return nil
}

// countQueued counts the messages with a recipient waiting for an
// attempt (0 without a queue).
func (s *Service) countQueued(ctx context.Context) (int64, error) {
	if s.queue == nil {
		return 0, nil
	}
	return s.queue.Count(ctx, queue.Filter{Status: queue.StatusQueued})
}

// validQueueStatuses are the values of QueueFilter.Status.
var validQueueStatuses = []string{
	queue.StatusQueued, queue.StatusDelivering, queue.StatusDelivered,
	queue.StatusFailed, queue.StatusExpired, queue.StatusHeld,
}

// ListQueue lists the queued messages the actor may see, the most recent
// first.
func (s *Service) ListQueue(ctx context.Context, a Actor, f QueueFilter) (*List[queue.Item], error) {
	if err := a.mayUseQueue(); err != nil {
		return nil, err
	}
	if err := s.haveQueue(); err != nil {
		return nil, err
	}
	p, err := f.Page.normalize()
	if err != nil {
		return nil, err
	}
	mf := queue.Filter{Status: strings.ToLower(strings.TrimSpace(f.Status))}
	if mf.Status != "" && !containsString(validQueueStatuses, mf.Status) {
		return nil, core.Invalid("status", "must be one of "+strings.Join(validQueueStatuses, ", "))
	}
	if d := strings.TrimSpace(f.Domain); d != "" {
		n, err := core.NormalizeDomain(d)
		if err != nil {
			return nil, core.Invalid("domain", "not a valid domain name")
		}
		mf.Domain = n
	}
	if !a.IsAdmin() {
		return s.scanQueue(ctx, a, mf, p)
	}
	mf.Limit, mf.Offset = p.Limit, p.Offset
	items, err := s.queue.List(ctx, mf)
	if err != nil {
		return nil, err
	}
	total, err := s.queue.Count(ctx, mf)
	if err != nil {
		return nil, err
	}
	if items == nil {
		items = []queue.Item{}
	}
	return &List[queue.Item]{Items: items, Total: total}, nil
}

// scanQueue lists the queued messages the actor may see by reading the
// whole (filtered) queue, for actors whose reach the store cannot filter
// on (a domain admin's sender domains).
func (s *Service) scanQueue(ctx context.Context, a Actor, mf queue.Filter, p Page) (*List[queue.Item], error) {
	out := []queue.Item{}
	var total int64
	for offset := 0; ; offset += queueScanChunk {
		mf.Limit, mf.Offset = queueScanChunk, offset
		chunk, err := s.queue.List(ctx, mf)
		if err != nil {
			return nil, err
		}
		for i := range chunk {
			if !a.seesQueued(&chunk[i].Message) {
				continue
			}
			if total >= int64(p.Offset) && len(out) < p.Limit {
				out = append(out, chunk[i])
			}
			total++
		}
		if len(chunk) < queueScanChunk {
			break
		}
	}
	return &List[queue.Item]{Items: out, Total: total}, nil
}

// GetQueued returns a queued message with its recipients.
func (s *Service) GetQueued(ctx context.Context, a Actor, id int64) (*queue.Item, error) {
	if err := a.mayUseQueue(); err != nil {
		return nil, err
	}
	if err := s.haveQueue(); err != nil {
		return nil, err
	}
	it, err := s.queue.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.seesQueued(&it.Message) {
		return nil, forbidden(fmt.Sprintf("queued message %d", id))
	}
	return it, nil
}

// manageQueued checks that the actor may change queued message id and
// returns the context that audits the change.
func (s *Service) manageQueued(ctx context.Context, a Actor, id int64) (context.Context, error) {
	if _, err := s.GetQueued(ctx, a, id); err != nil {
		return nil, err
	}
	return a.write(ctx)
}

// RetryQueued makes the waiting recipients of a queued message due now.
func (s *Service) RetryQueued(ctx context.Context, a Actor, id int64) error {
	ctx, err := s.manageQueued(ctx, a, id)
	if err != nil {
		return err
	}
	return s.queue.RetryNow(ctx, id)
}

// HoldQueued holds a queued message (it is neither delivered nor expired
// until released) or, with held false, releases it.
func (s *Service) HoldQueued(ctx context.Context, a Actor, id int64, held bool) error {
	ctx, err := s.manageQueued(ctx, a, id)
	if err != nil {
		return err
	}
	return s.queue.Hold(ctx, id, held)
}

// DeleteQueued removes a message from the queue; nobody is told.
func (s *Service) DeleteQueued(ctx context.Context, a Actor, id int64) error {
	ctx, err := s.manageQueued(ctx, a, id)
	if err != nil {
		return err
	}
	return s.queue.Delete(ctx, id)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
