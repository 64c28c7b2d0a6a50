package tokens

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// KeepAliveConfig configures NewKeepAlive. Zero values are safe defaults.
type KeepAliveConfig struct {
	// Store holds the connections; required. It must offer a DueIndex,
	// itself or through the store it decorates (see IndexOf): MemoryStore,
	// redisstore and pgstore do. Keys found there are read through Store,
	// so give the same (Cached, Sealed) Store as the Refresher's.
	Store Store
	// Refresher refreshes; required. Its Locker makes each due connection
	// refresh once across replicas that each run a KeepAlive.
	Refresher *Refresher
	// Grant returns the Grant that refreshes k's connection: its
	// integration's. A nil Grant with a nil error means the connection is
	// not refreshed (an API-key integration); an error skips k for this
	// tick. Required.
	Grant func(ctx context.Context, k Key) (Grant, error)
	// Interval is the time between two ticks. Zero means 30 seconds;
	// negative is an error.
	Interval time.Duration
	// Ahead: a connection whose access token expires within Ahead is
	// refreshed, at most MaxMarginFraction of its lifetime plus two
	// Intervals early (and never more than its lifetime): a short-lived
	// token is refreshed at least one Interval before a request would find
	// it due (the Refresher's margin is capped at MaxMarginFraction of the
	// lifetime too), not the moment it is issued unless two Intervals
	// exceed half its lifetime. Keep Ahead above the Refresher's Margin
	// plus Interval, so a request never finds a token due. Zero means 5
	// minutes; negative is an error.
	Ahead time.Duration
	// IdleLifetime maps an integration key to its provider's refresh token
	// idle lifetime: a refresh token unused that long dies. A connection of
	// such an integration not refreshed for IdleLifetime minus IdleAhead is
	// refreshed, even when its access token never expires. Nil or missing
	// means no idle expiry.
	IdleLifetime map[string]time.Duration
	// IdleAhead is how long before the idle expiry such a connection is
	// refreshed. Zero means a quarter of its IdleLifetime; negative is an
	// error.
	IdleAhead time.Duration
	// VerifyEvery maps an integration key to how often its connections
	// are verified: each active connection of it whose last verification
	// (or creation) is older than the interval is passed to Verify, once
	// across replicas (under a lease of the Refresher's Locker), found
	// through the store's VerifyIndex. Nil or missing means no scheduled
	// verification. Opt-in: a verification is a request to the provider.
	VerifyEvery map[string]time.Duration
	// Verify runs one connection's verification and records its outcome
	// (Connection.Verified, see RecordVerification); required with
	// VerifyEvery. middleware.Handler's VerifyConnection does both and
	// sends the lifecycle events: middleware.Config.KeepAlive fills it.
	Verify func(ctx context.Context, k Key) error
	// Batch is how many keys one index query returns. Zero means 256;
	// negative is an error.
	Batch int
	// Workers is how many connections refresh at once. Zero means 8;
	// negative is an error.
	Workers int
	// OnError, when not nil, is called with each error of a tick (an index
	// query, a read, a failed refresh); the error is safe to log.
	OnError func(Key, error)
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// KeepAlive refreshes OAuth2 connections in the background, before they are
// due, so no request waits on a refresh; and refreshes connections whose
// refresh token would die of idleness. Every replica may run one: the
// Refresher's Locker makes each connection refresh once.
//
// Each tick asks the store's DueIndex for the connections expiring within
// Ahead and those idle too long, reads them, and refreshes those still due
// through Refresher.Fresh, forcing the refresh of the token it read: under
// the lease, a replica that finds the token already replaced by a valid one
// refreshes nothing. A transient failure is recorded on the connection
// (Failures, LastError; see HealthOf) and the connection is retried after
// the Refresher's cooldown.
//
// Build it with NewKeepAlive, run it with Start or Run, stop it with Close
// or the context. It is safe for concurrent use.
type KeepAlive struct {
	cfg    KeepAliveConfig
	index  DueIndex
	vindex VerifyIndex // nil without VerifyEvery

	mu      sync.Mutex
	backoff map[Key]time.Time // keys not to look at before the time
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewKeepAlive checks cfg and returns a KeepAlive, not yet running.
func NewKeepAlive(cfg KeepAliveConfig) (*KeepAlive, error) {
	if cfg.Store == nil || cfg.Refresher == nil || cfg.Grant == nil {
		return nil, errors.New("tokens: keepalive: Store, Refresher and Grant are required")
	}
	ix, ok := IndexOf(cfg.Store)
	if !ok {
		return nil, fmt.Errorf("tokens: keepalive: %w", ErrNoIndex)
	}
	if cfg.Interval < 0 || cfg.Ahead < 0 || cfg.IdleAhead < 0 || cfg.Batch < 0 || cfg.Workers < 0 {
		return nil, errors.New("tokens: keepalive: negative Interval, Ahead, IdleAhead, Batch or Workers")
	}
	for in, d := range cfg.IdleLifetime {
		if d <= 0 || cfg.IdleAhead >= d {
			return nil, fmt.Errorf("tokens: keepalive: IdleLifetime of %q must be positive and above IdleAhead", in)
		}
	}
	var vix VerifyIndex
	if len(cfg.VerifyEvery) > 0 {
		if cfg.Verify == nil {
			return nil, errors.New("tokens: keepalive: VerifyEvery needs Verify")
		}
		if vix, ok = VerifyIndexOf(cfg.Store); !ok {
			return nil, errors.New("tokens: keepalive: VerifyEvery needs a store with a VerifyIndex")
		}
		for in, d := range cfg.VerifyEvery {
			if d <= 0 {
				return nil, fmt.Errorf("tokens: keepalive: VerifyEvery of %q must be positive", in)
			}
		}
	}
	if cfg.Interval == 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.Ahead == 0 {
		cfg.Ahead = 5 * time.Minute
	}
	if cfg.Batch == 0 {
		cfg.Batch = 256
	}
	if cfg.Workers == 0 {
		cfg.Workers = 8
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &KeepAlive{cfg: cfg, index: ix, vindex: vix, backoff: make(map[Key]time.Time)}, nil
}

// Start runs the KeepAlive in a goroutine until Close is called or ctx
// ends. A second Start does nothing.
func (ka *KeepAlive) Start(ctx context.Context) {
	ka.mu.Lock()
	defer ka.mu.Unlock()
	if ka.done != nil {
		return
	}
	ctx, ka.cancel = context.WithCancel(ctx)
	ka.done = make(chan struct{})
	go func() {
		defer close(ka.done)
		_ = ka.Run(ctx)
	}()
}

// Close stops a KeepAlive started with Start and waits for its tick in
// progress to end. It returns nil, and does nothing after the first call.
func (ka *KeepAlive) Close() error {
	ka.mu.Lock()
	cancel, done := ka.cancel, ka.done
	ka.cancel = nil
	ka.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}

// Run ticks every Interval, the first at once, until ctx ends; it returns
// ctx's error.
func (ka *KeepAlive) Run(ctx context.Context) error {
	t := time.NewTicker(ka.cfg.Interval)
	defer t.Stop()
	for {
		ka.Tick(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// TickStats counts what one tick did.
type TickStats struct {
	Queries   int // index queries
	Read      int // connections read
	Refreshed int // refreshes this KeepAlive asked for that ended well (some by another replica)
	Failed    int // refreshes that failed
	Verified  int // verifications this KeepAlive ran (whatever their outcome)
}

// Tick runs one pass: it refreshes every connection due now and verifies
// every connection whose verification is due (VerifyEvery), in batches of
// Batch, and returns what it did. Run calls it; call it yourself to drive a
// KeepAlive from a scheduler of your own.
func (ka *KeepAlive) Tick(ctx context.Context) TickStats {
	var st TickStats
	now := ka.cfg.Now()
	ka.sweep(now)
	ka.drain(ctx, &st, ka.one, func(limit int) ([]Key, error) {
		return ka.index.Due(ctx, now.Add(ka.cfg.Ahead), limit)
	})
	for in, life := range ka.cfg.IdleLifetime {
		before := now.Add(-(life - ka.idleAhead(life)))
		ka.drain(ctx, &st, ka.one, func(limit int) ([]Key, error) {
			return ka.index.Idle(ctx, in, before, limit)
		})
	}
	for in, every := range ka.cfg.VerifyEvery {
		before := now.Add(-every)
		ka.drain(ctx, &st, func(ctx context.Context, k Key, st *TickStats) { ka.verify(ctx, k, before, st) },
			func(limit int) ([]Key, error) { return ka.vindex.Unverified(ctx, in, before, limit) })
	}
	return st
}

func (ka *KeepAlive) idleAhead(life time.Duration) time.Duration {
	if ka.cfg.IdleAhead > 0 {
		return ka.cfg.IdleAhead
	}
	return life / 4
}

// drain queries one index until it returns a short batch or nothing it can
// act on. Keys in backoff come first in the index (they are the oldest), so
// each query asks for Batch more than it will skip.
func (ka *KeepAlive) drain(ctx context.Context, st *TickStats, do func(context.Context, Key, *TickStats), query func(limit int) ([]Key, error)) {
	for ctx.Err() == nil {
		skipped := ka.backoffLen()
		limit := ka.cfg.Batch + skipped
		keys, err := query(limit)
		st.Queries++
		if err != nil {
			ka.report(Key{}, err)
			return
		}
		work := ka.notInBackoff(keys)
		if len(work) == 0 {
			return
		}
		ka.process(ctx, st, work, do)
		if len(keys) < limit {
			return
		}
	}
}

// process runs do on keys with Workers goroutines.
func (ka *KeepAlive) process(ctx context.Context, st *TickStats, keys []Key, do func(context.Context, Key, *TickStats)) {
	ch := make(chan Key)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range min(ka.cfg.Workers, len(keys)) {
		wg.Go(func() {
			for k := range ch {
				var one TickStats
				do(ctx, k, &one)
				mu.Lock()
				st.Read += one.Read
				st.Refreshed += one.Refreshed
				st.Failed += one.Failed
				st.Verified += one.Verified
				mu.Unlock()
			}
		})
	}
	for _, k := range keys {
		if ctx.Err() != nil {
			break
		}
		ch <- k
	}
	close(ch)
	wg.Wait()
}

// one looks at one connection and refreshes it when it is due.
func (ka *KeepAlive) one(ctx context.Context, k Key, st *TickStats) {
	g, err := ka.cfg.Grant(ctx, k)
	if err != nil {
		ka.report(k, err)
		ka.hold(k, ka.cfg.Now().Add(ka.cfg.Interval))
		return
	}
	if g == nil {
		ka.hold(k, ka.cfg.Now().Add(time.Hour))
		return
	}
	c, err := ka.cfg.Store.Get(ctx, k)
	st.Read++
	if errors.Is(err, ErrNotFound) {
		ka.hold(k, ka.cfg.Now().Add(ka.cfg.Interval/2)) // deleted since the query
		return
	}
	if err != nil {
		ka.report(k, err)
		ka.hold(k, ka.cfg.Now().Add(ka.cfg.Interval))
		return
	}
	now := ka.cfg.Now()
	if at := ka.dueAt(c); at.After(now) {
		ka.hold(k, at) // indexed early (a short-lived token): look again then
		return
	}
	_, err = ka.cfg.Refresher.Fresh(ctx, c, g, c.Credential.AccessToken)
	// Whatever happens, this tick does not look at k again; the next does
	// (a refreshed connection has left the index's window by then).
	ka.hold(k, now.Add(ka.cfg.Interval/2))
	if err == nil {
		st.Refreshed++
		return
	}
	st.Failed++
	ka.report(k, err)
	var cool *CooldownError
	switch {
	case errors.As(err, &cool):
		ka.hold(k, now.Add(cool.RetryAfter))
	case errors.Is(err, ErrReauthRequired), errors.Is(err, ErrRefresherShutDown), ctx.Err() != nil:
	default:
		ka.recordFailure(ctx, c, err)
		ka.hold(k, now.Add(ka.cfg.Interval))
	}
}

// verifyWait bounds how long a KeepAlive waits for a connection's
// verification lease: another replica holding it is verifying it.
const verifyWait = 250 * time.Millisecond

// verify runs the verification of k, due because it was last verified (or
// created) before before: under the connection's verification lease, once
// across replicas, after a re-read that shows it still due.
func (ka *KeepAlive) verify(ctx context.Context, k Key, before time.Time, st *TickStats) {
	ka.hold(k, ka.cfg.Now().Add(ka.cfg.Interval)) // this tick and the next leave k alone, whatever happens
	lctx, cancel := context.WithTimeout(ctx, verifyWait)
	lease, err := ka.cfg.Refresher.locker.Lock(lctx, verifyLockPrefix+strings.TrimPrefix(lockKey(k), lockPrefix), ka.cfg.Refresher.leaseTTL)
	cancel()
	if err != nil {
		return // another replica verifies it (or the locker failed: the next tick tries again)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		_ = lease.Release(rctx)
	}()
	hctx, stop := ka.cfg.Refresher.hold(ctx, lease)
	defer stop()
	if inv, ok := ka.cfg.Store.(Invalidator); ok {
		inv.Invalidate(hctx, k)
	}
	c, err := ka.cfg.Store.Get(hctx, k)
	st.Read++
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			ka.report(k, err)
		}
		return
	}
	if at := VerifySchedule(c); at.IsZero() || !at.Before(before) {
		return // verified meanwhile by another replica, or no longer active
	}
	st.Verified++
	if err := ka.cfg.Verify(hctx, k); err != nil {
		ka.report(k, err)
	}
}

// verifyLockPrefix names a connection's verification lease.
const verifyLockPrefix = "onbehalf:verify:"

// dueAt returns when the KeepAlive should refresh c: Ahead before its
// access token expires (at most MaxMarginFraction of its lifetime plus two
// Intervals early, at most its lifetime), or
// IdleAhead before its refresh token's idle expiry, whichever is first;
// the zero time when it is neither.
func (ka *KeepAlive) dueAt(c *Connection) time.Time {
	var at time.Time
	if exp := c.Credential.Expiry; !exp.IsZero() {
		ahead := ka.cfg.Ahead
		if life := exp.Sub(c.Credential.ObtainedAt); !c.Credential.ObtainedAt.IsZero() && life > 0 {
			// Two Intervals before the Refresher's own margin would make a
			// request find it due (a tick lands anywhere in the first, so
			// the refresh has at least one Interval to complete), and
			// never more than its lifetime.
			ahead = min(ahead, time.Duration(float64(life)*MaxMarginFraction)+2*ka.cfg.Interval, life)
		}
		at = exp.Add(-ahead)
	}
	if life, ok := ka.cfg.IdleLifetime[c.Integration]; ok && c.Credential.RefreshToken != "" {
		_, refreshed := Schedule(c)
		if idle := refreshed.Add(life - ka.idleAhead(life)); at.IsZero() || idle.Before(at) {
			at = idle
		}
	}
	if at.IsZero() {
		return time.Time{}.Add(1<<63 - 1) // never
	}
	return at
}

// recordFailure saves a transient failure on the connection, once,
// compare-and-swap: a conflict means someone saved it meanwhile (perhaps a
// successful refresh), which wins.
func (ka *KeepAlive) recordFailure(ctx context.Context, c *Connection, err error) {
	cur, gerr := ka.cfg.Store.Get(ctx, c.Key())
	if gerr != nil || cur.Credential.AccessToken != c.Credential.AccessToken || !cur.Active() {
		return
	}
	cur.Failures++
	cur.LastError = ErrorCode(err)
	_ = ka.cfg.Store.Save(ctx, cur)
}

func (ka *KeepAlive) report(k Key, err error) {
	if ka.cfg.OnError != nil {
		ka.cfg.OnError(k, err)
	}
}

func (ka *KeepAlive) hold(k Key, until time.Time) {
	ka.mu.Lock()
	ka.backoff[k] = until
	ka.mu.Unlock()
}

func (ka *KeepAlive) backoffLen() int {
	ka.mu.Lock()
	defer ka.mu.Unlock()
	return len(ka.backoff)
}

// notInBackoff returns the keys not held back.
func (ka *KeepAlive) notInBackoff(keys []Key) []Key {
	ka.mu.Lock()
	defer ka.mu.Unlock()
	out := keys[:0:0]
	for _, k := range keys {
		if _, held := ka.backoff[k]; !held {
			out = append(out, k)
		}
	}
	return out
}

// sweep forgets the backoffs that ended.
func (ka *KeepAlive) sweep(now time.Time) {
	ka.mu.Lock()
	defer ka.mu.Unlock()
	for k, until := range ka.backoff {
		if !until.After(now) {
			delete(ka.backoff, k)
		}
	}
}
