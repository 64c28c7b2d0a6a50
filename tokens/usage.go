package tokens

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// UseTrackerConfig configures NewUseTracker. Zero values are safe defaults.
type UseTrackerConfig struct {
	// Store holds the connections; required. Give the same (Cached,
	// Sealed) Store as the Refresher's.
	Store Store
	// Interval is how often the marks are written, and how stale a stored
	// LastUsed may be before it is written again. Zero means one minute;
	// negative is an error.
	Interval time.Duration
	// OnError, when not nil, receives each failed write; the error is safe
	// to log.
	OnError func(Key, error)
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// UseTracker records when connections were last used (Connection.LastUsed)
// without a store round trip per request. Used marks a connection in memory
// (an atomic store in a sync.Map); every Interval, Flush writes each marked
// connection once, compare-and-swap, and only when the stored LastUsed is
// older than Interval, so that several replicas sharing a store write a busy
// connection about once per Interval between them, not once per request.
// LastUsed is therefore behind the true last use by at most about two
// Intervals (a mark just after a write waits for the write after next).
//
// Why a field of the record rather than a store of its own: health is read
// with the connection (HealthOf, /sdk/me) at no extra cost, every store
// persists it without a new interface, and a write per connection per
// minute is small next to the requests it stands for. The price is a
// version bump per write: a refresh that meets it re-reads and saves again
// (the Refresher's compare-and-swap loop does), which the test of this file
// exercises.
//
// Build it with NewUseTracker, run it with Start, stop it with Close (which
// writes the last marks). It is safe for concurrent use.
type UseTracker struct {
	cfg UseTrackerConfig
	// marks holds the marks since the last Flush: Key → *atomic.Int64 (Unix
	// nanoseconds). A connection marked before is marked again with one
	// atomic store, without a lock; Flush swaps in an empty map. A mark that
	// races the swap may land in the map being written and be lost: the
	// connection's next request marks it again.
	marks  atomic.Pointer[sync.Map]
	mu     sync.Mutex // guards cancel and done
	cancel context.CancelFunc
	done   chan struct{}
}

// NewUseTracker checks cfg and returns a UseTracker, not yet running.
func NewUseTracker(cfg UseTrackerConfig) (*UseTracker, error) {
	if cfg.Store == nil {
		return nil, errors.New("tokens: use tracker: Store is required")
	}
	if cfg.Interval < 0 {
		return nil, errors.New("tokens: use tracker: negative Interval")
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u := &UseTracker{cfg: cfg}
	u.marks.Store(new(sync.Map))
	return u, nil
}

// Used marks k (with its ID) as used successfully now. It does no I/O and
// takes no lock once k is marked.
func (u *UseTracker) Used(k Key) {
	if k.ID == "" {
		return
	}
	now := u.cfg.Now().UnixNano()
	m := u.marks.Load()
	if v, ok := m.Load(k); ok {
		v.(*atomic.Int64).Store(now)
		return
	}
	v := new(atomic.Int64)
	v.Store(now)
	if old, loaded := m.LoadOrStore(k, v); loaded {
		old.(*atomic.Int64).Store(now)
	}
}

// Pending returns how many connections are marked and not yet written.
func (u *UseTracker) Pending() int {
	n := 0
	u.marks.Load().Range(func(any, any) bool { n++; return true })
	return n
}

// Flush writes the marks taken since the last Flush and returns how many
// connections it saved. A connection deleted, not active, or whose stored
// LastUsed is less than Interval older than its mark is left as is.
func (u *UseTracker) Flush(ctx context.Context) int {
	type mark struct {
		k  Key
		at time.Time
	}
	var marked []mark
	u.marks.Swap(new(sync.Map)).Range(func(k, v any) bool {
		marked = append(marked, mark{k.(Key), time.Unix(0, v.(*atomic.Int64).Load())})
		return true
	})
	ch := make(chan mark)
	var saved atomic.Int64
	var wg sync.WaitGroup
	for range min(flushWorkers, len(marked)) {
		wg.Go(func() {
			for m := range ch {
				ok, err := u.write(ctx, m.k, m.at)
				if err != nil && u.cfg.OnError != nil {
					u.cfg.OnError(m.k, err)
				}
				if ok {
					saved.Add(1)
				}
			}
		})
	}
	for _, m := range marked {
		if ctx.Err() != nil {
			break
		}
		ch <- m
	}
	close(ch)
	wg.Wait()
	return int(saved.Load())
}

// flushWorkers is how many connections a Flush writes at once: a store
// round trip is mostly waiting, and a busy replica marks many connections
// a minute.
const flushWorkers = 8

// write saves k's LastUsed = at, compare-and-swap, re-reading once on a
// conflict.
func (u *UseTracker) write(ctx context.Context, k Key, at time.Time) (bool, error) {
	at = at.Round(0).UTC()
	for try := 1; try <= 2; try++ {
		if inv, ok := u.cfg.Store.(Invalidator); ok && try > 1 {
			inv.Invalidate(ctx, k)
		}
		c, err := u.cfg.Store.Get(ctx, k)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if !c.Active() || at.Sub(c.LastUsed) < u.cfg.Interval {
			return false, nil
		}
		c.LastUsed = at
		err = u.cfg.Store.Save(ctx, c)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, ErrConflict) {
			return false, err
		}
	}
	return false, nil // saved by someone else twice over: the next mark tries again
}

// Start flushes every Interval in a goroutine until Close or ctx's end. A
// second Start does nothing.
func (u *UseTracker) Start(ctx context.Context) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done != nil {
		return
	}
	ctx, u.cancel = context.WithCancel(ctx)
	u.done = make(chan struct{})
	go func() {
		defer close(u.done)
		t := time.NewTicker(u.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				u.Flush(ctx)
			}
		}
	}()
}

// Close stops the goroutine of Start and writes the remaining marks, within
// ctx. It returns nil.
func (u *UseTracker) Close(ctx context.Context) error {
	u.mu.Lock()
	cancel, done := u.cancel, u.done
	u.cancel = nil
	u.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	u.Flush(ctx)
	return nil
}
