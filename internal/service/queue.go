package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
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
func (a Actor) seesQueued(m *mailstore.OutboundMessage) bool {
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

// validQueueStatuses are the values of QueueFilter.Status.
var validQueueStatuses = []string{
	mailstore.QueueQueued, mailstore.QueueDelivering, mailstore.QueueDelivered,
	mailstore.QueueFailed, mailstore.QueueExpired, mailstore.QueueHeld,
}

// ListQueue lists the queued messages the actor may see, the most recent
// first.
func (s *Service) ListQueue(ctx context.Context, a Actor, f QueueFilter) (*List[mailstore.QueueItem], error) {
	if err := a.mayUseQueue(); err != nil {
		return nil, err
	}
	p, err := f.Page.normalize()
	if err != nil {
		return nil, err
	}
	mf := mailstore.QueueFilter{Status: strings.ToLower(strings.TrimSpace(f.Status))}
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
	items, err := s.store.ListQueue(ctx, mf)
	if err != nil {
		return nil, err
	}
	total, err := s.store.CountQueue(ctx, mf)
	if err != nil {
		return nil, err
	}
	if items == nil {
		items = []mailstore.QueueItem{}
	}
	return &List[mailstore.QueueItem]{Items: items, Total: total}, nil
}

// scanQueue lists the queued messages the actor may see by reading the
// whole (filtered) queue, for actors whose reach the store cannot filter
// on (a domain admin's sender domains).
func (s *Service) scanQueue(ctx context.Context, a Actor, mf mailstore.QueueFilter, p Page) (*List[mailstore.QueueItem], error) {
	out := []mailstore.QueueItem{}
	var total int64
	for offset := 0; ; offset += queueScanChunk {
		mf.Limit, mf.Offset = queueScanChunk, offset
		chunk, err := s.store.ListQueue(ctx, mf)
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
	return &List[mailstore.QueueItem]{Items: out, Total: total}, nil
}

// GetQueued returns a queued message with its recipients.
func (s *Service) GetQueued(ctx context.Context, a Actor, id int64) (*mailstore.QueueItem, error) {
	if err := a.mayUseQueue(); err != nil {
		return nil, err
	}
	it, err := s.store.GetQueued(ctx, id)
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
	return s.store.RetryNow(ctx, id)
}

// HoldQueued holds a queued message (it is neither delivered nor expired
// until released) or, with held false, releases it.
func (s *Service) HoldQueued(ctx context.Context, a Actor, id int64, held bool) error {
	ctx, err := s.manageQueued(ctx, a, id)
	if err != nil {
		return err
	}
	return s.store.HoldQueued(ctx, id, held)
}

// DeleteQueued removes a message from the queue; nobody is told.
func (s *Service) DeleteQueued(ctx context.Context, a Actor, id int64) error {
	ctx, err := s.manageQueued(ctx, a, id)
	if err != nil {
		return err
	}
	return s.store.DeleteQueued(ctx, id)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
