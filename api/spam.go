package api

import (
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/service"
)

// trainSpam handles POST /api/v1/spam/train?as=spam|ham: the body is the
// raw message, message/rfc822, at most service.MaxTrainBytes.
func (a *API) trainSpam(c *gin.Context) {
	var isSpam bool
	switch c.Query("as") {
	case "spam":
		isSpam = true
	case "ham":
	default:
		writeProblem(c, core.Invalid("as", `must be "spam" or "ham"`))
		return
	}
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "message/rfc822" {
		abortProblem(c, kindUnsupportedMedia, "the request body must be message/rfc822 (the raw message)")
		return
	}
	if err := a.svc.TrainSpam(c.Request.Context(), actorOf(c), c.Request.Body, isSpam, c.Query("domain")); err != nil {
		writeProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// spamStats is what the Bayesian classifier was trained on.
type spamStats struct {
	SpamMessages int64 `json:"spam_messages"`
	HamMessages  int64 `json:"ham_messages"`
}

// spamStats handles GET /api/v1/spam/stats.
func (a *API) spamStats(c *gin.Context) {
	st, err := a.svc.SpamStats(c.Request.Context(), actorOf(c), c.Query("domain"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, spamStats{SpamMessages: st.SpamMessages, HamMessages: st.HamMessages})
}

// bodyLimits are the routes that take larger bodies than MaxBodyBytes.
var bodyLimits = map[string]int64{
	"/api/v1/spam/train": service.MaxTrainBytes,
}
