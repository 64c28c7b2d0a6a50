package limits

import (
	"context"
	"sync"
	"time"

	"github.com/patrickmn/go-cache"
	"golang.org/x/time/rate"
)

// Local is the in-process Limiter: one golang.org/x/time/rate bucket per key,
// forgotten after ten idle minutes. It never fails. Replicas each keep their
// own buckets: use a shared Limiter (limits/redislimiter) when several
// replicas call the same provider.
type Local struct {
	now     func() time.Time
	buckets *cache.Cache // key → *bucket
}

type bucket struct {
	mu      sync.Mutex
	lim     *rate.Limiter // nil for a zero Limit
	limit   Limit
	blocked time.Time
	at      time.Time // the latest instant given to lim: it must never go back
}

var _ Limiter = (*Local)(nil)

// NewLocal returns an in-process Limiter.
func NewLocal() *Local {
	return &Local{now: time.Now, buckets: cache.New(10*time.Minute, 5*time.Minute)}
}

func (l *Local) bucket(key string) *bucket {
	if v, ok := l.buckets.Get(key); ok {
		return v.(*bucket)
	}
	b := &bucket{}
	if err := l.buckets.Add(key, b, cache.DefaultExpiration); err != nil {
		if v, ok := l.buckets.Get(key); ok { // another request added it first
			return v.(*bucket)
		}
	}
	return b
}

// Reserve implements Limiter.
func (l *Local) Reserve(_ context.Context, r Request) (Decision, error) {
	var other time.Time // the block on BlockKey, read first: one lock at a time
	if r.BlockKey != "" && r.BlockKey != r.Key {
		bb := l.bucket(r.BlockKey)
		bb.mu.Lock()
		other = bb.blocked
		bb.mu.Unlock()
	}
	b := l.bucket(r.Key)
	b.mu.Lock()
	defer b.mu.Unlock()
	// The time is read under the lock: x/time/rate credits tokens for a
	// time that goes backwards, so an instant read before waiting for the
	// lock would hand out extra permits under contention.
	now := l.now()
	if b.limit != r.Limit {
		b.limit = r.Limit
		switch {
		case r.Limit.Rate <= 0:
			b.lim = nil
		case b.lim == nil:
			b.lim = rate.NewLimiter(rate.Limit(r.Limit.Rate), max(r.Limit.Burst, 1))
		default:
			b.lim.SetLimitAt(now, rate.Limit(r.Limit.Rate))
			b.lim.SetBurstAt(now, max(r.Limit.Burst, 1))
		}
	}
	block := max(b.blocked.Sub(now), other.Sub(now), 0)
	if block > r.MaxWait {
		return Decision{Wait: block}, nil
	}
	if b.lim == nil {
		return Decision{Allowed: true, Wait: block}, nil
	}
	t := now.Add(block)
	if t.Before(b.at) {
		t = b.at
	}
	b.at = t
	res := b.lim.ReserveN(t, 1)
	wait := t.Sub(now) + res.DelayFrom(t)
	if wait > r.MaxWait {
		res.CancelAt(t)
		return Decision{Wait: wait}, nil
	}
	return Decision{Allowed: true, Wait: wait}, nil
}

// Block implements Limiter.
func (l *Local) Block(_ context.Context, key string, until time.Time) error {
	b := l.bucket(key)
	b.mu.Lock()
	if until.After(b.blocked) {
		b.blocked = until
	}
	b.mu.Unlock()
	return nil
}
