package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mta/queue"
)

// queuedRecipient is one recipient of a queued message and the state of
// its delivery.
type queuedRecipient struct {
	Address       string     `json:"address"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at"`
	LastError     string     `json:"last_error"`
	LastCode      int        `json:"last_code"`
}

// queuedMessage is a message of the outbound queue.
type queuedMessage struct {
	ID         int64             `json:"id"`
	From       string            `json:"from"`
	Size       int64             `json:"size"`
	CreatedAt  time.Time         `json:"created_at"`
	ExpiresAt  time.Time         `json:"expires_at"`
	Held       bool              `json:"held"`
	Recipients []queuedRecipient `json:"recipients"`
}

func toQueuedMessage(it *queue.Item) queuedMessage {
	m := it.Message
	out := queuedMessage{
		ID: m.ID, From: m.From, Size: m.Size, CreatedAt: m.CreatedAt.UTC(), ExpiresAt: m.ExpiresAt.UTC(), Held: m.Held,
		Recipients: make([]queuedRecipient, 0, len(it.Recipients)),
	}
	for _, r := range it.Recipients {
		qr := queuedRecipient{
			Address: r.Address, Status: r.Status, Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt.UTC(),
			LastError: r.LastError, LastCode: r.LastCode,
		}
		if r.LastAttemptAt != nil {
			t := r.LastAttemptAt.UTC()
			qr.LastAttemptAt = &t
		}
		out.Recipients = append(out.Recipients, qr)
	}
	return out
}

// queueID reads the {id} of a queue route; on failure it answers 404 and
// returns false.
func queueID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		abortProblem(c, kindNotFound, fmt.Sprintf("queued message %q: not found", c.Param("id")))
		return 0, false
	}
	return id, true
}

// listQueue handles GET /api/v1/queue.
func (a *API) listQueue(c *gin.Context) {
	limit, offset, err := pageQuery(c)
	if err != nil {
		writeProblem(c, err)
		return
	}
	l, err := a.svc.ListQueue(c.Request.Context(), actorOf(c), service.QueueFilter{
		Status: c.Query("status"),
		Domain: c.Query("domain"),
		Page:   service.Page{Limit: limit, Offset: offset},
	})
	if err != nil {
		writeProblem(c, err)
		return
	}
	items := make([]queuedMessage, len(l.Items))
	for i := range l.Items {
		items[i] = toQueuedMessage(&l.Items[i])
	}
	c.JSON(http.StatusOK, page(items, l.Total, limit, offset))
}

// getQueued handles GET /api/v1/queue/{id}.
func (a *API) getQueued(c *gin.Context) {
	id, ok := queueID(c)
	if !ok {
		return
	}
	it, err := a.svc.GetQueued(c.Request.Context(), actorOf(c), id)
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, toQueuedMessage(it))
}

// retryQueued handles POST /api/v1/queue/{id}/retry.
func (a *API) retryQueued(c *gin.Context) {
	id, ok := queueID(c)
	if !ok {
		return
	}
	if err := a.svc.RetryQueued(c.Request.Context(), actorOf(c), id); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// holdQueued handles POST /api/v1/queue/{id}/hold and, with held false,
// POST /api/v1/queue/{id}/release.
func (a *API) holdQueued(held bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := queueID(c)
		if !ok {
			return
		}
		if err := a.svc.HoldQueued(c.Request.Context(), actorOf(c), id, held); err != nil {
			writeProblem(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// deleteQueued handles DELETE /api/v1/queue/{id}.
func (a *API) deleteQueued(c *gin.Context) {
	id, ok := queueID(c)
	if !ok {
		return
	}
	if err := a.svc.DeleteQueued(c.Request.Context(), actorOf(c), id); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
