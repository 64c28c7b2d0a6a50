package tokens

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// rotatingGrant is a provider that accepts each refresh token once and
// issues tokens living life; it counts token requests per connection.
type rotatingGrant struct {
	life time.Duration
	mu   sync.Mutex
	used map[string]bool
	n    map[Key]int
	fail error // when set, every request fails with it
}

func newRotatingGrant(life time.Duration) *rotatingGrant {
	return &rotatingGrant{life: life, used: map[string]bool{}, n: map[Key]int{}}
}

func (g *rotatingGrant) Token(_ context.Context, c *Connection) (*oauth2.Token, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail != nil {
		return nil, g.fail
	}
	rt := c.Credential.RefreshToken
	if g.used[rt] {
		return nil, &oauth2.RetrieveError{ErrorCode: "invalid_grant"}
	}
	g.used[rt] = true
	g.n[c.Key()]++
	n := g.n[c.Key()]
	return &oauth2.Token{AccessToken: fmt.Sprintf("at-%s-%d", c.ID, n), RefreshToken: fmt.Sprintf("rt-%s-%d", c.ID, n),
		Expiry: time.Now().Add(g.life)}, nil
}

func (g *rotatingGrant) count(k Key) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n[k]
}

// seed saves n connections whose tokens expire in expiresIn.
func seed(t *testing.T, s Store, integration string, n int, expiresIn time.Duration) []Key {
	t.Helper()
	var keys []Key
	for i := range n {
		c := &Connection{Project: "p", User: fmt.Sprintf("u%d", i), Integration: integration, ID: fmt.Sprintf("c%d", i),
			Credential: Credential{AccessToken: "at0", RefreshToken: fmt.Sprintf("rt0-%d", i), ObtainedAt: time.Now().Add(-time.Hour).Round(0),
				Expiry: time.Now().Add(expiresIn).Round(0)}}
		if err := s.Save(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, c.Key())
	}
	return keys
}

func newTestKeepAlive(t *testing.T, s Store, l Locker, g Grant, cfg KeepAliveConfig) *KeepAlive {
	t.Helper()
	rf, err := NewRefresher(RefresherConfig{Store: s, Locker: l, Margin: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Refresher = s, rf
	cfg.Grant = func(context.Context, Key) (Grant, error) { return g, nil }
	ka, err := NewKeepAlive(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ka
}

// A connection expiring within Ahead is refreshed by a tick, before the
// Refresher would find it due; one expiring later is left alone.
func TestKeepAliveRefreshesBeforeDue(t *testing.T) {
	s := NewMemoryStore()
	soon := seed(t, s, "crm", 3, 4*time.Minute) // within Ahead (5m), outside Margin (1m)
	late := seed(t, s, "other", 2, 2*time.Hour) // outside Ahead
	g := newRotatingGrant(time.Hour)
	ka := newTestKeepAlive(t, s, nil, g, KeepAliveConfig{})
	st := ka.Tick(context.Background())
	if st.Refreshed != 3 || st.Failed != 0 {
		t.Fatalf("tick: %+v, want 3 refreshed", st)
	}
	for _, k := range soon {
		c, _ := s.Get(context.Background(), k)
		if g.count(k) != 1 || c.Credential.AccessToken == "at0" || time.Until(c.Credential.Expiry) < 50*time.Minute {
			t.Fatalf("%s: %d token requests, token %v", k, g.count(k), c.Credential)
		}
	}
	for _, k := range late {
		if g.count(k) != 0 {
			t.Fatalf("%s refreshed though not due", k)
		}
	}
	// The next tick finds nothing due: one query, no read.
	st = ka.Tick(context.Background())
	if st.Refreshed != 0 || st.Read != 0 || st.Queries != 1 {
		t.Fatalf("second tick: %+v, want one query and nothing else", st)
	}
}

// Two replicas share a store and a Locker and tick at the same time: each
// due connection is refreshed exactly once (the provider refuses a reused
// refresh token, which would show as a failure).
func TestKeepAliveReplicasRefreshOnce(t *testing.T) {
	s := NewMemoryStore()
	l := NewMemoryLocker()
	keys := seed(t, s, "crm", 40, 2*time.Minute)
	g := newRotatingGrant(time.Hour)
	a := newTestKeepAlive(t, s, l, g, KeepAliveConfig{Workers: 4, Batch: 7})
	b := newTestKeepAlive(t, s, l, g, KeepAliveConfig{Workers: 4, Batch: 7})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for _, ka := range []*KeepAlive{a, b} {
		wg.Go(func() { failed.Add(int64(ka.Tick(context.Background()).Failed)) })
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d refreshes failed", failed.Load())
	}
	for _, k := range keys {
		if n := g.count(k); n != 1 {
			t.Fatalf("%s: %d token requests, want 1", k, n)
		}
	}
}

// A connection whose access token never expires is refreshed before its
// refresh token's idle lifetime runs out; others are not.
func TestKeepAliveIdleExpiry(t *testing.T) {
	s := NewMemoryStore()
	ctx := context.Background()
	old := &Connection{Project: "p", User: "u1", Integration: "salesforce", ID: "old",
		Credential: Credential{AccessToken: "at0", RefreshToken: "rt-old", ObtainedAt: time.Now().Add(-80 * time.Hour).Round(0)}}
	recent := &Connection{Project: "p", User: "u2", Integration: "salesforce", ID: "recent",
		Credential: Credential{AccessToken: "at0", RefreshToken: "rt-recent", ObtainedAt: time.Now().Add(-time.Hour).Round(0)}}
	for _, c := range []*Connection{old, recent} {
		if err := s.Save(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	g := newRotatingGrant(0)
	ka := newTestKeepAlive(t, s, nil, g, KeepAliveConfig{IdleLifetime: map[string]time.Duration{"salesforce": 96 * time.Hour}})
	st := ka.Tick(ctx)
	if g.count(old.Key()) != 1 || g.count(recent.Key()) != 0 || st.Refreshed != 1 {
		t.Fatalf("old %d, recent %d token requests (%+v); want 1, 0", g.count(old.Key()), g.count(recent.Key()), st)
	}
	c, _ := s.Get(ctx, old.Key())
	if time.Since(c.Credential.ObtainedAt) > time.Minute {
		t.Fatalf("ObtainedAt %v not moved by the refresh", c.Credential.ObtainedAt)
	}
	if keys, _ := s.Idle(ctx, "salesforce", time.Now().Add(-72*time.Hour), 10); len(keys) != 0 {
		t.Fatalf("still idle: %v", keys)
	}
}

// A transient failure is recorded on the connection (refresh_failing, with
// a count and a code) and cleared by the next successful refresh.
func TestKeepAliveRecordsHealth(t *testing.T) {
	s := NewMemoryStore()
	ctx := context.Background()
	k := seed(t, s, "crm", 1, 2*time.Minute)[0]
	g := newRotatingGrant(time.Hour)
	g.fail = &oauth2.RetrieveError{Response: &http.Response{StatusCode: 503}, ErrorCode: "temporarily_unavailable"}
	var reported atomic.Int64
	ka := newTestKeepAlive(t, s, nil, g, KeepAliveConfig{OnError: func(Key, error) { reported.Add(1) }})
	if st := ka.Tick(ctx); st.Failed != 1 || reported.Load() != 1 {
		t.Fatalf("tick %+v, %d reported; want one failure", st, reported.Load())
	}
	c, _ := s.Get(ctx, k)
	h := HealthOf(c)
	if h.State != HealthRefreshFailing || h.Failures != 1 || h.LastError != "temporarily_unavailable" {
		t.Fatalf("health %+v", h)
	}
	// A refresh that succeeds (here on the request path) clears it.
	g.mu.Lock()
	g.fail = nil
	g.mu.Unlock()
	rf, _ := NewRefresher(RefresherConfig{Store: s})
	if _, err := rf.Fresh(ctx, c, g, c.Credential.AccessToken); err != nil {
		t.Fatal(err)
	}
	c, _ = s.Get(ctx, k)
	if h := HealthOf(c); h.State != HealthHealthy || h.Failures != 0 || h.LastError != "" || h.LastRefresh.IsZero() {
		t.Fatalf("health after success %+v", h)
	}
}

func TestHealthOf(t *testing.T) {
	for _, tc := range []struct {
		c    Connection
		want HealthState
		code string
	}{
		{Connection{}, HealthHealthy, ""},
		{Connection{Failures: 2, LastError: "timeout"}, HealthRefreshFailing, "timeout"},
		{Connection{Status: StatusNeedsReauth, Reason: ReasonGrantRejected}, HealthNeedsReauth, ReasonGrantRejected},
		{Connection{Status: StatusNeedsReauth, Reason: ReasonRevoked}, HealthRevoked, ""},
	} {
		if h := HealthOf(&tc.c); h.State != tc.want || h.LastError != tc.code {
			t.Errorf("HealthOf(%+v) = %+v, want %s %q", tc.c, h, tc.want, tc.code)
		}
	}
}

// Close stops a started KeepAlive, and the context does too.
func TestKeepAliveStopsOnClose(t *testing.T) {
	s := NewMemoryStore()
	g := newRotatingGrant(time.Hour)
	var ticks atomic.Int64
	ka := newTestKeepAlive(t, s, nil, g, KeepAliveConfig{Interval: 5 * time.Millisecond,
		Now: func() time.Time { ticks.Add(1); return time.Now() }})
	ka.Start(context.Background())
	ka.Start(context.Background()) // a second Start does nothing
	time.Sleep(30 * time.Millisecond)
	if err := ka.Close(); err != nil {
		t.Fatal(err)
	}
	n := ticks.Load()
	if n == 0 {
		t.Fatal("no tick ran")
	}
	time.Sleep(30 * time.Millisecond)
	if ticks.Load() != n {
		t.Fatal("ticks went on after Close")
	}
	_ = ka.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- ka.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop with its context")
	}
}

// NewKeepAlive refuses a store without an index and bad settings; it finds
// the index through Cached and Sealed.
func TestNewKeepAliveConfig(t *testing.T) {
	rf, _ := NewRefresher(RefresherConfig{Store: NewMemoryStore()})
	grant := func(context.Context, Key) (Grant, error) { return nil, nil }
	cached, _ := NewCached(NewMemoryStore(), CachedConfig{})
	if _, err := NewKeepAlive(KeepAliveConfig{Store: cached, Refresher: rf, Grant: grant}); err != nil {
		t.Fatalf("through Cached: %v", err)
	}
	if _, err := NewKeepAlive(KeepAliveConfig{Store: noIndex{NewMemoryStore()}, Refresher: rf, Grant: grant}); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("no index: %v", err)
	}
	for _, cfg := range []KeepAliveConfig{
		{Interval: -1}, {Ahead: -1}, {Batch: -1}, {Workers: -1},
		{IdleLifetime: map[string]time.Duration{"x": 0}},
		{IdleLifetime: map[string]time.Duration{"x": time.Hour}, IdleAhead: 2 * time.Hour},
	} {
		cfg.Store, cfg.Refresher, cfg.Grant = NewMemoryStore(), rf, grant
		if _, err := NewKeepAlive(cfg); err == nil {
			t.Errorf("NewKeepAlive(%+v) accepted", cfg)
		}
	}
}

// noIndex hides a store's DueIndex.
type noIndex struct{ Store }
