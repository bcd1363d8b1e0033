package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/internal/service"
)

// mailStats is the answer of GET /api/v1/stats.
type mailStats struct {
	Range         string       `json:"range"`
	BucketSeconds int          `json:"bucket_seconds"`
	Since         time.Time    `json:"since"`
	Totals        statsTotals  `json:"totals"`
	Today         statsToday   `json:"today"`
	Series        []statsPoint `json:"series"`
}

type statsTotals struct {
	Domains      int64 `json:"domains"`
	Users        int64 `json:"users"`
	StorageBytes int64 `json:"storage_bytes"`
	Queue        int64 `json:"queue"`
	Quarantine   int64 `json:"quarantine"`
}

type statsToday struct {
	Received    int64 `json:"received"`
	Sent        int64 `json:"sent"`
	Rejected    int64 `json:"rejected"`
	Junked      int64 `json:"junked"`
	Quarantined int64 `json:"quarantined"`
	Spam        int64 `json:"spam"`
	Virus       int64 `json:"virus"`
}

type statsPoint struct {
	Start            time.Time        `json:"start"`
	Accepted         int64            `json:"accepted"`
	Rejected         int64            `json:"rejected"`
	Junked           int64            `json:"junked"`
	Quarantined      int64            `json:"quarantined"`
	Delivered        int64            `json:"delivered"`
	Deferred         int64            `json:"deferred"`
	Failed           int64            `json:"failed"`
	RejectedByReason map[string]int64 `json:"rejected_by_reason"`
}

// stats handles GET /api/v1/stats?range=24h|7d (server admins).
func (a *API) stats(c *gin.Context) {
	st, err := a.svc.Stats(c.Request.Context(), actorOf(c), c.Query("range"))
	if err != nil {
		writeProblem(c, err)
		return
	}
	t, d := st.Totals, st.Today
	out := mailStats{
		Range:         st.Range,
		BucketSeconds: st.BucketSeconds,
		Since:         st.Since.UTC(),
		Totals: statsTotals{
			Domains: t.Domains, Users: t.Users, StorageBytes: t.StorageBytes, Queue: t.Queue, Quarantine: t.Quarantine,
		},
		Today: statsToday{
			Received: d.Received, Sent: d.Sent, Rejected: d.Rejected, Junked: d.Junked,
			Quarantined: d.Quarantined, Spam: d.Spam, Virus: d.Virus,
		},
		Series: make([]statsPoint, len(st.Series)),
	}
	for i, p := range st.Series {
		out.Series[i] = toStatsPoint(p)
	}
	c.JSON(http.StatusOK, out)
}

func toStatsPoint(p service.StatsPoint) statsPoint {
	by := p.RejectedByReason
	if by == nil {
		by = map[string]int64{}
	}
	return statsPoint{
		Start: p.Start.UTC(), Accepted: p.Accepted, Rejected: p.Rejected, Junked: p.Junked, Quarantined: p.Quarantined,
		Delivered: p.Delivered, Deferred: p.Deferred, Failed: p.Failed, RejectedByReason: by,
	}
}
