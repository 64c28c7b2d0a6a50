package lifecycle

import (
	"math/rand/v2"
	"time"
)

// backoff returns the wait before retry number attempt (1 after the first
// failed attempt): exponential from base, doubling, capped at max, with
// "equal jitter": a uniformly random point in the upper half, so retries of
// many events spread out but never come sooner than half the nominal wait.
// r is in [0, 1).
func backoff(attempt int, base, max time.Duration, r float64) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + time.Duration(r*float64(d/2))
}

func jitteredBackoff(attempt int, base, max time.Duration) time.Duration {
	return backoff(attempt, base, max, rand.Float64())
}
