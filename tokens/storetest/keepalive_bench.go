package storetest

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/tokens"
)

// counting counts a store's and a locker's round trips.
type counting struct {
	tokens.Store
	ix    tokens.DueIndex
	l     tokens.Locker
	calls atomic.Int64
}

func (c *counting) Get(ctx context.Context, k tokens.Key) (*tokens.Connection, error) {
	c.calls.Add(1)
	return c.Store.Get(ctx, k)
}
func (c *counting) Save(ctx context.Context, x *tokens.Connection) error {
	c.calls.Add(1)
	return c.Store.Save(ctx, x)
}
func (c *counting) Due(ctx context.Context, before time.Time, limit int) ([]tokens.Key, error) {
	c.calls.Add(1)
	return c.ix.Due(ctx, before, limit)
}
func (c *counting) Idle(ctx context.Context, in string, before time.Time, limit int) ([]tokens.Key, error) {
	c.calls.Add(1)
	return c.ix.Idle(ctx, in, before, limit)
}
func (c *counting) Lock(ctx context.Context, key string, ttl time.Duration) (tokens.Lease, error) {
	c.calls.Add(1)
	l, err := c.l.Lock(ctx, key, ttl)
	if err != nil {
		return nil, err
	}
	return countingLease{l, c}, nil
}

type countingLease struct {
	tokens.Lease
	c *counting
}

func (l countingLease) Release(ctx context.Context) error {
	l.c.calls.Add(1)
	return l.Lease.Release(ctx)
}

// instantGrant answers at once, with a token living an hour.
type instantGrant struct{}

func (instantGrant) Token(_ context.Context, c *tokens.Connection) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: "at-" + c.ID, RefreshToken: "rt-" + c.ID, Expiry: time.Now().Add(time.Hour)}, nil
}

// BenchmarkKeepAlive measures a KeepAlive's tick over n stored connections
// of s (which must offer a DueIndex), with locker coordinating: "idle", a
// tick that finds nothing due; "due", a tick that refreshes due of them
// (re-armed, untimed, between ticks). It reports per tick the store and
// locker round trips (rt/tick) and the bytes allocated (B/op). Seeding
// writes n connections through Save, 64 at a time.
func BenchmarkKeepAlive(b *testing.B, s tokens.Store, locker tokens.Locker, n, due int) {
	ix, ok := tokens.IndexOf(s)
	if !ok {
		b.Skip("the store has no DueIndex")
	}
	ctx := context.Background()
	p := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	far := time.Now().Add(24 * time.Hour).Round(0)
	mk := func(i int) *tokens.Connection {
		return &tokens.Connection{Project: p, User: fmt.Sprintf("u%06d", i), Integration: "crm", ID: "c",
			Credential: tokens.Credential{AccessToken: "at", RefreshToken: "rt", Expiry: far, ObtainedAt: far.Add(-25 * time.Hour)}}
	}
	start := time.Now()
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 64 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := s.Save(ctx, mk(i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.Logf("seeded %d connections in %s", n, time.Since(start).Round(time.Millisecond))
	cs := &counting{Store: s, ix: ix, l: locker}
	rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: cs, Locker: cs})
	if err != nil {
		b.Fatal(err)
	}
	ka, err := tokens.NewKeepAlive(tokens.KeepAliveConfig{Store: cs, Refresher: rf, Workers: 16, Batch: 256,
		Grant: func(context.Context, tokens.Key) (tokens.Grant, error) { return instantGrant{}, nil }})
	if err != nil {
		b.Fatal(err)
	}
	// arm makes connections [0, due) expire in two minutes.
	arm := func() {
		soon := time.Now().Add(2 * time.Minute).Round(0)
		for i := range due {
			c, err := s.Get(ctx, tokens.Key{Project: p, User: fmt.Sprintf("u%06d", i), Integration: "crm", ID: "c"})
			if err != nil {
				b.Fatal(err)
			}
			c.Credential.Expiry, c.Credential.ObtainedAt = soon, soon.Add(-time.Hour)
			if err := s.Save(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	}
	measure := func(b *testing.B, rearm bool) {
		var calls, refreshed int64
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		ticks := 0
		for b.Loop() {
			if rearm {
				b.StopTimer()
				arm()
				b.StartTimer()
			}
			before := cs.calls.Load()
			st := ka.Tick(ctx)
			calls += cs.calls.Load() - before
			refreshed += int64(st.Refreshed)
			ticks++
			b.StopTimer()
			ka = resetBackoff(ka, cs, rf)
			b.StartTimer()
		}
		runtime.ReadMemStats(&ms1)
		b.ReportMetric(float64(calls)/float64(ticks), "rt/tick")
		b.ReportMetric(float64(refreshed)/float64(ticks), "refreshed/tick")
		b.ReportMetric(float64(ms1.HeapInuse)/(1<<20), "heapMiB")
	}
	b.Run("idle", func(b *testing.B) { b.ReportAllocs(); measure(b, false) })
	b.Run(fmt.Sprintf("due%d", due), func(b *testing.B) { b.ReportAllocs(); measure(b, true) })
}

// resetBackoff returns a fresh KeepAlive (one replica's first tick), so a
// re-armed connection is not skipped as already handled.
func resetBackoff(_ *tokens.KeepAlive, cs *counting, rf *tokens.Refresher) *tokens.KeepAlive {
	ka, _ := tokens.NewKeepAlive(tokens.KeepAliveConfig{Store: cs, Refresher: rf, Workers: 16, Batch: 256,
		Grant: func(context.Context, tokens.Key) (tokens.Grant, error) { return instantGrant{}, nil }})
	return ka
}
