package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/onbehalf/onbehalf/tokens"
)

// Lock waits between attempts from minWait, doubling up to maxWait.
const (
	minWait = 5 * time.Millisecond
	maxWait = 200 * time.Millisecond
)

// Lock implements tokens.Locker with SET key token NX PX ttl, under the key
// Prefix+"lock:"+key. While another holder has the key, it polls with
// jittered exponential backoff (5 ms doubling to 200 ms, never past the
// lease's remaining time) until it gets the lease or ctx ends. A ttl below
// one millisecond is an error.
//
// The lease it returns is a *Lease.
func (s *Store) Lock(ctx context.Context, key string, ttl time.Duration) (tokens.Lease, error) {
	if ttl < time.Millisecond {
		return nil, errors.New("redisstore: lock ttl must be at least 1ms")
	}
	rkey := s.lockKey(key)
	token := tokens.NewID()
	wait := minWait
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("redisstore: lock %q: %w", key, err)
		}
		octx, cancel := s.op(ctx)
		ok, err := s.rdb.SetNX(octx, rkey, token, ttl).Result()
		if err == nil && !ok {
			// Sleep no longer than the holder's lease has left.
			if left, perr := s.rdb.PTTL(octx, rkey).Result(); perr == nil && left > 0 && left < wait {
				wait = left
			}
		}
		cancel()
		if err != nil {
			return nil, fail(ctx, fmt.Sprintf("lock %q", key), err)
		}
		if ok {
			return &Lease{s: s, key: key, rkey: rkey, token: token}, nil
		}
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("redisstore: lock %q: %w", key, ctx.Err())
		}
		wait = min(2*wait, maxWait)
	}
}

// Lease is a lease held in Redis. It is safe for concurrent use.
type Lease struct {
	s     *Store
	key   string // the Locker's key
	rkey  string // its Redis key
	token string // this holder's random token
}

var _ tokens.Lease = (*Lease)(nil)

// Release implements tokens.Lease: it deletes the lease only while this
// holder has it (a compare-and-delete script), and returns an error wrapping
// tokens.ErrNotHeld otherwise.
func (l *Lease) Release(ctx context.Context) error {
	octx, cancel := l.s.op(ctx)
	defer cancel()
	n, err := release.Run(octx, l.s.rdb, []string{l.rkey}, l.token).Int()
	if err != nil {
		return fail(ctx, fmt.Sprintf("release %q", l.key), err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %q", tokens.ErrNotHeld, l.key)
	}
	return nil
}

// Extend sets the lease to expire ttl from now, while this holder has it;
// otherwise it returns an error wrapping tokens.ErrNotHeld.
func (l *Lease) Extend(ctx context.Context, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return errors.New("redisstore: lease ttl must be at least 1ms")
	}
	octx, cancel := l.s.op(ctx)
	defer cancel()
	n, err := extend.Run(octx, l.s.rdb, []string{l.rkey}, l.token, ttl.Milliseconds()).Int()
	if err != nil {
		return fail(ctx, fmt.Sprintf("extend %q", l.key), err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %q", tokens.ErrNotHeld, l.key)
	}
	return nil
}
