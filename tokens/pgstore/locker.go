package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/onbehalf/onbehalf/tokens"
)

// Lock waits between attempts from minWait, doubling up to maxWait.
const (
	minWait = 5 * time.Millisecond
	maxWait = 200 * time.Millisecond
)

// Lock implements tokens.Locker with a row of the lease table: an INSERT
// that takes the key when it is free or its lease expired (ON CONFLICT DO
// UPDATE ... WHERE expires_at <= clock_timestamp()), holding a random holder
// token. Expiry uses the database's clock, so replicas need not agree on
// theirs, and a crashed holder's lease simply runs out. While another holder
// has the key, Lock polls with jittered exponential backoff (5 ms doubling
// to 200 ms) until it gets the lease or ctx ends. A ttl below one
// millisecond is an error.
//
// A released lease's row is deleted; the row of a holder that crashed stays,
// expired, until the key is locked again.
//
// The lease it returns is a *Lease.
func (s *Store) Lock(ctx context.Context, key string, ttl time.Duration) (tokens.Lease, error) {
	if ttl < time.Millisecond {
		return nil, errors.New("pgstore: lock ttl must be at least 1ms")
	}
	token := tokens.NewID()
	wait := minWait
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("pgstore: lock %q: %w", key, err)
		}
		octx, cancel := s.op(ctx)
		var holder string
		err := s.pool.QueryRow(octx, s.q.lock, key, token, ttl.Microseconds()).Scan(&holder)
		cancel()
		switch {
		case err == nil:
			return &Lease{s: s, key: key, token: token}, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return nil, fail(ctx, fmt.Sprintf("lock %q", key), err)
		}
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("pgstore: lock %q: %w", key, ctx.Err())
		}
		wait = min(2*wait, maxWait)
	}
}

// Lease is a lease held in the lease table. It is safe for concurrent use.
type Lease struct {
	s     *Store
	key   string
	token string // this holder's random token
}

var _ tokens.Lease = (*Lease)(nil)

// Release implements tokens.Lease: it deletes the lease row only if this
// holder has it, and returns an error wrapping tokens.ErrNotHeld when the
// lease is gone or had expired (an expired row of its own is deleted too).
func (l *Lease) Release(ctx context.Context) error {
	octx, cancel := l.s.op(ctx)
	defer cancel()
	var live bool
	err := l.s.pool.QueryRow(octx, l.s.q.release, l.key, l.token).Scan(&live)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: %q", tokens.ErrNotHeld, l.key)
	case err != nil:
		return fail(ctx, fmt.Sprintf("release %q", l.key), err)
	case !live:
		return fmt.Errorf("%w: %q expired", tokens.ErrNotHeld, l.key)
	}
	return nil
}

// Extend sets the lease to expire ttl from now, while this holder has it;
// otherwise it returns an error wrapping tokens.ErrNotHeld.
func (l *Lease) Extend(ctx context.Context, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return errors.New("pgstore: lease ttl must be at least 1ms")
	}
	octx, cancel := l.s.op(ctx)
	defer cancel()
	tag, err := l.s.pool.Exec(octx, l.s.q.extend, l.key, l.token, ttl.Microseconds())
	if err != nil {
		return fail(ctx, fmt.Sprintf("extend %q", l.key), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %q", tokens.ErrNotHeld, l.key)
	}
	return nil
}
