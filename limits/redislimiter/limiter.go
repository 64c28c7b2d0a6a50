// Package redislimiter is a limits.Limiter shared across replicas through
// Redis: a GCRA bucket per key in one Lua script (one round trip per
// permit, or per batch of permits leased to the replica), blocks as keys
// with an expiry, and a bounded, logged behaviour when Redis is down.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
//	lim, err := redislimiter.New(redislimiter.Config{Client: rdb})
//	// upstream.Config{Limits: upstream.LimitsConfig{Limiter: lim}}
package redislimiter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/limits"
)

// Config configures the Limiter.
type Config struct {
	// Client is the Redis client (a single node, a Sentinel or Cluster
	// client). Required.
	Client redis.UniversalClient
	// Prefix is put before every key; "" means "onbehalf:limits:".
	Prefix string
	// Timeout bounds each Redis call. Zero means 100 ms.
	Timeout time.Duration
	// FailClosed answers limits.ErrUnavailable while Redis is down (the
	// stage answers 503 LIMITER_UNAVAILABLE and sends nothing). False (the
	// zero value) fails open to an in-process limiter: each replica then
	// counts alone until Redis is back.
	FailClosed bool
	// Retry is how long after a failed call the Limiter tries Redis again
	// (meanwhile it answers from the outage policy at once). Zero means 1 s.
	Retry time.Duration
	// LeaseWindow is how long permits leased in a batch stay usable by this
	// replica; a batch is what the rate gives in that window (at most
	// MaxLease) and only leased when the bucket has it free now. Zero means
	// 50 ms; negative turns leasing off (one round trip per permit).
	LeaseWindow time.Duration
	// MaxLease caps a batch; zero means 16.
	MaxLease int
	// Logger receives one line when an outage starts and one when it ends.
	// Nil means slog.Default().
	Logger *slog.Logger
}

// Limiter is the Redis limits.Limiter. It is safe for concurrent use.
type Limiter struct {
	cfg      Config
	fallback *limits.Local
	down     atomic.Int64 // unix nanos of the next Redis try while down; 0 when up
	mu       sync.Mutex
	leases   map[string]*lease
	calls    atomic.Int64
}

type lease struct {
	n       int
	expires time.Time
}

var _ limits.Limiter = (*Limiter)(nil)

// New validates cfg and returns the Limiter.
func New(cfg Config) (*Limiter, error) {
	if cfg.Client == nil {
		return nil, errors.New("redislimiter: Config.Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "onbehalf:limits:"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 100 * time.Millisecond
	}
	if cfg.Retry == 0 {
		cfg.Retry = time.Second
	}
	if cfg.LeaseWindow == 0 {
		cfg.LeaseWindow = 50 * time.Millisecond
	}
	if cfg.MaxLease == 0 {
		cfg.MaxLease = 16
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Timeout < 0 || cfg.MaxLease < 0 || cfg.Retry < 0 {
		return nil, errors.New("redislimiter: Timeout, Retry and MaxLease must not be negative")
	}
	return &Limiter{cfg: cfg, fallback: limits.NewLocal(), leases: map[string]*lease{}}, nil
}

// Calls is the number of Redis calls made so far (for measurements).
func (l *Limiter) Calls() int64 { return l.calls.Load() }

// reserve is GCRA on microsecond integers. KEYS[1] holds the bucket's
// theoretical arrival time, KEYS[2] a block's end; ARGV: interval (µs; 0 for
// no rate), burst, max wait (µs), permits wanted in a batch. It answers
// {permits taken, wait µs}: a batch only when it is free now, else one
// permit within the max wait, else none and the wait needed.
var reserve = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local maxwait = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
local block = blocked - now
if block < 0 then block = 0 end
if block > maxwait then return {0, block} end
if interval == 0 then
  if block > 0 then return {1, block} end
  return {want, 0}
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local base = math.max(tat, now, blocked)
local free = math.floor((now + burst * interval - base) / interval)
if block == 0 and free >= 1 then
  local n = math.min(want, free)
  local newtat = base + n * interval
  redis.call('SET', KEYS[1], newtat, 'PX', math.floor((newtat - now) / 1000) + 1000)
  return {n, 0}
end
local newtat = base + interval
local wait = newtat - burst * interval - now
if wait < block then wait = block end
if wait > maxwait then return {0, wait} end
redis.call('SET', KEYS[1], newtat, 'PX', math.floor((newtat - now) / 1000) + 1000)
return {1, wait}
`)

// block extends a block's end (unix µs) and its expiry, never shortens it.
var block = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local untl = tonumber(ARGV[1])
if untl > cur then
  redis.call('SET', KEYS[1], untl, 'PXAT', math.floor(untl / 1000) + 1)
end
return 1
`)

// Reserve implements limits.Limiter.
func (l *Limiter) Reserve(ctx context.Context, r limits.Request) (limits.Decision, error) {
	if l.takeLeased(r.Key) {
		return limits.Decision{Allowed: true}, nil
	}
	if l.isDown() {
		return l.outage(ctx, r)
	}
	want := 1
	if l.cfg.LeaseWindow > 0 {
		if r.Limit.Rate <= 0 {
			want = l.cfg.MaxLease
		} else {
			want = int(math.Min(float64(l.cfg.MaxLease), r.Limit.Rate*l.cfg.LeaseWindow.Seconds()))
		}
		want = max(want, 1)
	}
	interval := int64(0)
	if r.Limit.Rate > 0 {
		interval = max(int64(1e6/r.Limit.Rate), 1)
	}
	bk := r.BlockKey
	if bk == "" {
		bk = r.Key
	}
	cctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	l.calls.Add(1)
	res, err := reserve.Run(cctx, l.cfg.Client, []string{l.cfg.Prefix + "b:" + r.Key, l.cfg.Prefix + "x:" + bk},
		interval, max(r.Limit.Burst, 1), r.MaxWait.Microseconds(), want).Int64Slice()
	if err != nil {
		if ctx.Err() != nil {
			return limits.Decision{}, ctx.Err()
		}
		l.fail(err)
		return l.outage(ctx, r)
	}
	l.up()
	n, wait := res[0], time.Duration(res[1])*time.Microsecond
	if n == 0 {
		return limits.Decision{Wait: wait}, nil
	}
	if n > 1 {
		// Another request may have leased a batch meanwhile: the permits
		// add up (keeping the earlier expiry), none is dropped unused.
		now := time.Now()
		l.mu.Lock()
		if ls := l.leases[r.Key]; ls != nil && ls.n > 0 && now.Before(ls.expires) {
			ls.n += int(n - 1)
		} else {
			l.leases[r.Key] = &lease{n: int(n - 1), expires: now.Add(l.cfg.LeaseWindow)}
		}
		l.mu.Unlock()
	}
	return limits.Decision{Allowed: true, Wait: wait}, nil
}

func (l *Limiter) takeLeased(key string) bool {
	if l.cfg.LeaseWindow <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ls := l.leases[key]
	if ls == nil {
		return false
	}
	if ls.n <= 0 || time.Now().After(ls.expires) {
		delete(l.leases, key)
		return false
	}
	ls.n--
	return true
}

// Block implements limits.Limiter. The block is kept locally too, so that
// it holds in this replica while Redis is down.
func (l *Limiter) Block(ctx context.Context, key string, until time.Time) error {
	_ = l.fallback.Block(ctx, key, until)
	l.mu.Lock()
	for k := range l.leases { // leased permits are no longer good
		delete(l.leases, k)
	}
	l.mu.Unlock()
	if l.isDown() {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	l.calls.Add(1)
	if err := block.Run(cctx, l.cfg.Client, []string{l.cfg.Prefix + "x:" + key}, until.UnixMicro()).Err(); err != nil {
		l.fail(err)
		return fmt.Errorf("%w: %w", limits.ErrUnavailable, err)
	}
	l.up()
	return nil
}

func (l *Limiter) isDown() bool {
	next := l.down.Load()
	return next != 0 && time.Now().UnixNano() < next
}

// fail records a failed call: the first failure of an outage is logged.
func (l *Limiter) fail(err error) {
	if l.down.Swap(time.Now().Add(l.cfg.Retry).UnixNano()) == 0 {
		policy := "open (in-process limits)"
		if l.cfg.FailClosed {
			policy = "closed"
		}
		l.cfg.Logger.Warn("redislimiter: Redis unreachable; failing "+policy, slog.String("error", err.Error()))
	}
}

func (l *Limiter) up() {
	if l.down.Swap(0) != 0 {
		l.cfg.Logger.Info("redislimiter: Redis reachable again; limits shared")
	}
}

func (l *Limiter) outage(ctx context.Context, r limits.Request) (limits.Decision, error) {
	if l.cfg.FailClosed {
		return limits.Decision{}, limits.ErrUnavailable
	}
	return l.fallback.Reserve(ctx, r)
}
