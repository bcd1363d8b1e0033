package outbound

import (
	"math/rand/v2"
	"time"
)

// Backoff bounds of DefaultBackoff.
const (
	MinBackoff = time.Minute
	MaxBackoff = 4 * time.Hour
)

// DefaultBackoff waits 1 minute after the first failed attempt and twice as
// long after each further one, up to 4 hours, with ±10 % jitter so that
// messages that failed together do not all come back at once.
func DefaultBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := MinBackoff
	for i := 1; i < attempt && d < MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, MaxBackoff)
	jitter := time.Duration(rand.Int64N(int64(d)/5+1)) - d/10
	return d + jitter
}
