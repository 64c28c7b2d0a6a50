package tokens

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// MemoryLocker is a Locker for one process: it coordinates the goroutines of
// the process that holds it, not several processes (use a shared Locker such
// as the Redis one for that). Its zero value is not usable; call
// NewMemoryLocker.
//
// Waiters do not poll: each held key has a channel that is closed when its
// lease is released or expires, and a timer that expires it after ttl.
type MemoryLocker struct {
	mu   sync.Mutex
	held map[string]*memoryLease
}

var (
	_ Locker   = (*MemoryLocker)(nil)
	_ Extender = (*memoryLease)(nil)
)

// NewMemoryLocker returns a MemoryLocker with no key held.
func NewMemoryLocker() *MemoryLocker {
	return &MemoryLocker{held: make(map[string]*memoryLease)}
}

// memoryLease is one holder's lease of one key. Identity is the pointer: a
// lease is held while l.held[key] is this very value.
type memoryLease struct {
	l       *MemoryLocker
	key     string
	expires time.Time
	timer   *time.Timer
	freed   chan struct{} // closed when the lease ends (release or expiry)
}

// Lock implements Locker. A ttl that is not positive is an error.
func (l *MemoryLocker) Lock(ctx context.Context, key string, ttl time.Duration) (Lease, error) {
	if ttl <= 0 {
		return nil, errors.New("tokens: lock ttl must be positive")
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("tokens: lock %q: %w", key, err)
		}
		l.mu.Lock()
		cur := l.held[key]
		if cur != nil && !time.Now().Before(cur.expires) {
			// The expiry timer is due but has not run yet: expire now.
			l.endLocked(cur)
			cur = nil
		}
		if cur == nil {
			lease := &memoryLease{l: l, key: key, expires: time.Now().Add(ttl), freed: make(chan struct{})}
			lease.timer = time.AfterFunc(ttl, lease.expire)
			l.held[key] = lease
			l.mu.Unlock()
			return lease, nil
		}
		freed := cur.freed
		l.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, fmt.Errorf("tokens: lock %q: %w", key, ctx.Err())
		}
	}
}

// endLocked ends lease, which must be the current holder of its key. l.mu must
// be held.
func (l *MemoryLocker) endLocked(lease *memoryLease) {
	lease.timer.Stop()
	delete(l.held, lease.key)
	close(lease.freed)
}

// expire runs from the lease's timer. A lease extended after the timer
// fired but before expire got the mutex is left alone: the timer, reset by
// Extend, fires again at its new expiry.
func (lease *memoryLease) expire() {
	l := lease.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[lease.key] == lease && !time.Now().Before(lease.expires) {
		l.endLocked(lease)
	}
}

// Extend implements Extender. A ttl that is not positive is an error.
func (lease *memoryLease) Extend(ctx context.Context, ttl time.Duration) error {
	if ttl <= 0 {
		return errors.New("tokens: lease ttl must be positive")
	}
	l := lease.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[lease.key] != lease || !time.Now().Before(lease.expires) {
		return fmt.Errorf("%w: %q", ErrNotHeld, lease.key)
	}
	lease.expires = time.Now().Add(ttl)
	lease.timer.Reset(ttl)
	return nil
}

// Release implements Lease.
func (lease *memoryLease) Release(ctx context.Context) error {
	l := lease.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[lease.key] != lease {
		return fmt.Errorf("%w: %q", ErrNotHeld, lease.key)
	}
	l.endLocked(lease)
	if !time.Now().Before(lease.expires) {
		// Expired already, though the timer had not fired yet: nobody could
		// have taken it, but the holder overran its ttl, and says so.
		return fmt.Errorf("%w: %q expired", ErrNotHeld, lease.key)
	}
	return nil
}
