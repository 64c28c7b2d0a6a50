package tokens

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// usageStore counts a Store's calls; conflictOnce, when set, runs before
// the next Save (a refresh saving meanwhile) and is cleared.
type usageStore struct {
	Store
	gets, saves  atomic.Int64
	mu           sync.Mutex
	conflictOnce func()
}

func (s *usageStore) Get(ctx context.Context, k Key) (*Connection, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, k)
}

func (s *usageStore) Save(ctx context.Context, c *Connection) error {
	s.saves.Add(1)
	s.mu.Lock()
	f := s.conflictOnce
	s.conflictOnce = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return s.Store.Save(ctx, c)
}

func (s *usageStore) Unwrap() Store { return s.Store }

// Used costs no store call however many requests mark a connection; a
// Flush writes each marked connection once; a mark within Interval of the
// stored LastUsed (another replica wrote it) is not written again.
func TestUseTrackerCoalesces(t *testing.T) {
	mem := NewMemoryStore()
	keys := seed(t, mem, "slack", 3, time.Hour)
	cs := &usageStore{Store: mem}
	now := time.Unix(1_800_000_000, 0).UTC()
	clock := func() time.Time { return now }
	u, err := NewUseTracker(UseTrackerConfig{Store: cs, Interval: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		u.Used(keys[i%3])
	}
	u.Used(Key{Project: "p", User: "u0", Integration: "slack"}) // no ID: not marked
	if g, s := cs.gets.Load(), cs.saves.Load(); g != 0 || s != 0 {
		t.Fatalf("3000 marks made %d reads and %d saves, want none", g, s)
	}
	if n := u.Pending(); n != 3 {
		t.Fatalf("pending %d, want 3", n)
	}
	if n := u.Flush(context.Background()); n != 3 || cs.saves.Load() != 3 {
		t.Fatalf("Flush saved %d (%d saves), want 3", n, cs.saves.Load())
	}
	for _, k := range keys {
		c, _ := mem.Get(context.Background(), k)
		if !c.LastUsed.Equal(now) || !HealthOf(c).LastUsed.Equal(now) {
			t.Fatalf("%s: LastUsed %v, want %v", k, c.LastUsed, now)
		}
	}
	if n := u.Flush(context.Background()); n != 0 {
		t.Fatalf("a Flush without marks saved %d", n)
	}
	// Another replica's tracker, 30 s later: within Interval, nothing written.
	other, _ := NewUseTracker(UseTrackerConfig{Store: cs, Interval: time.Minute, Now: func() time.Time { return now.Add(30 * time.Second) }})
	other.Used(keys[0])
	if n := other.Flush(context.Background()); n != 0 {
		t.Fatalf("a mark 30 s after the stored one was written (%d)", n)
	}
	// A minute later it is.
	now = now.Add(2 * time.Minute)
	u.Used(keys[0])
	if n := u.Flush(context.Background()); n != 1 {
		t.Fatalf("a mark 2 min later: saved %d, want 1", n)
	}
}

// A refresh saved between the tracker's read and its save wins: the tracker
// re-reads and writes LastUsed on the refreshed record, credential kept.
func TestUseTrackerYieldsToRefresh(t *testing.T) {
	mem := NewMemoryStore()
	keys := seed(t, mem, "slack", 1, time.Hour)
	cs := &usageStore{Store: mem}
	cs.conflictOnce = func() {
		c, _ := mem.Get(context.Background(), keys[0])
		c.Credential.AccessToken, c.Credential.RefreshToken = "at-new", "rt-new"
		if err := mem.Save(context.Background(), c); err != nil {
			t.Error(err)
		}
	}
	u, _ := NewUseTracker(UseTrackerConfig{Store: cs})
	u.Used(keys[0])
	if n := u.Flush(context.Background()); n != 1 {
		t.Fatalf("saved %d, want 1 after a re-read", n)
	}
	c, _ := mem.Get(context.Background(), keys[0])
	if c.Credential.AccessToken != "at-new" || c.Credential.RefreshToken != "rt-new" || c.LastUsed.IsZero() {
		t.Fatalf("after the conflict: token kept %v, LastUsed %v; want the refreshed token and LastUsed set",
			c.Credential.RefreshToken == "rt-new", c.LastUsed)
	}
}

// Close writes the marks left.
func TestUseTrackerCloseFlushes(t *testing.T) {
	mem := NewMemoryStore()
	keys := seed(t, mem, "slack", 1, time.Hour)
	u, _ := NewUseTracker(UseTrackerConfig{Store: mem, Interval: time.Hour})
	u.Start(context.Background())
	u.Used(keys[0])
	if err := u.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, _ := mem.Get(context.Background(), keys[0]); c.LastUsed.IsZero() {
		t.Fatal("Close did not write the last mark")
	}
	if _, err := NewUseTracker(UseTrackerConfig{Store: mem, Interval: -1}); err == nil {
		t.Fatal("a negative Interval was accepted")
	}
}

// Two replicas' KeepAlives verify each due connection once between them;
// a verified connection is not due again before VerifyEvery has passed;
// connections of integrations without VerifyEvery are never verified.
func TestKeepAliveVerifiesOncePerInterval(t *testing.T) {
	mem := NewMemoryStore()
	keys := seed(t, mem, "slack", 20, 24*time.Hour)
	seed(t, mem, "other", 5, 24*time.Hour)
	locker := NewMemoryLocker()
	var mu sync.Mutex
	now := time.Now().Add(time.Hour)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	runs := map[Key]int{}
	verify := func(ctx context.Context, k Key) error {
		mu.Lock()
		runs[k]++
		mu.Unlock()
		time.Sleep(5 * time.Millisecond) // overlap the replicas
		_, _, err := RecordVerification(ctx, mem, k, clock(), "")
		return err
	}
	g := newRotatingGrant(time.Hour)
	cfg := KeepAliveConfig{VerifyEvery: map[string]time.Duration{"slack": 30 * time.Minute}, Verify: verify, Now: clock}
	a, b := newTestKeepAlive(t, mem, locker, g, cfg), newTestKeepAlive(t, mem, locker, g, cfg)
	var wg sync.WaitGroup
	var verified atomic.Int64
	for _, ka := range []*KeepAlive{a, b} {
		wg.Go(func() { verified.Add(int64(ka.Tick(context.Background()).Verified)) })
	}
	wg.Wait()
	for _, k := range keys {
		if runs[k] != 1 {
			t.Fatalf("%s verified %d times, want 1", k, runs[k])
		}
	}
	if len(runs) != 20 || verified.Load() != 20 {
		t.Fatalf("%d connections verified (%d counted), want the 20 of slack", len(runs), verified.Load())
	}
	// At once again (after the backoff): nothing due.
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if st := a.Tick(context.Background()); st.Verified != 0 {
		t.Fatalf("a second tick verified %d, want 0", st.Verified)
	}
	// After VerifyEvery: each once more.
	mu.Lock()
	now = now.Add(31 * time.Minute)
	mu.Unlock()
	if st := b.Tick(context.Background()); st.Verified != 20 {
		t.Fatalf("after the interval: verified %d, want 20", st.Verified)
	}
	if _, err := NewKeepAlive(KeepAliveConfig{Store: mem, Refresher: a.cfg.Refresher, Grant: a.cfg.Grant,
		VerifyEvery: map[string]time.Duration{"slack": time.Minute}}); err == nil {
		t.Fatal("VerifyEvery without Verify was accepted")
	}
}

func TestHealthVerificationFailed(t *testing.T) {
	mem := NewMemoryStore()
	keys := seed(t, mem, "slack", 1, time.Hour)
	at := time.Unix(1_800_000_000, 0).UTC()
	prev, c, err := RecordVerification(context.Background(), mem, keys[0], at, "http_403")
	if err != nil || prev != "" {
		t.Fatal(prev, err)
	}
	h := HealthOf(c)
	if h.State != HealthVerificationFailed || h.LastError != "http_403" || !h.LastVerified.Equal(at) {
		t.Fatalf("health %+v, want verification_failed, http_403", h)
	}
	// A refresh failure outranks it; needs_reauth outranks both.
	c.Failures, c.LastError = 2, "http_503"
	if HealthOf(c).State != HealthRefreshFailing {
		t.Fatal("refresh failing does not outrank verification failed")
	}
	c.Status = StatusNeedsReauth
	if HealthOf(c).State != HealthNeedsReauth {
		t.Fatal("needs_reauth does not outrank the rest")
	}
	prev, c, _ = RecordVerification(context.Background(), mem, keys[0], at.Add(time.Minute), "")
	if prev != "http_403" || HealthOf(c).State != HealthHealthy {
		t.Fatalf("after a pass: previous %q, state %s; want http_403, healthy", prev, HealthOf(c).State)
	}
}

// With short-lived tokens the KeepAlive's head start is capped like the
// Refresher's margin, plus two Intervals: it refreshes a token at least a
// tick before a request would find it due.
func TestKeepAliveAheadOfShortTokens(t *testing.T) {
	mem := NewMemoryStore()
	now := time.Now().Round(0)
	c := &Connection{Project: "p", User: "u", Integration: "slack", Credential: Credential{AccessToken: "a", RefreshToken: "r",
		ObtainedAt: now.Add(-12 * time.Second), Expiry: now.Add(18 * time.Second)}} // 30 s tokens
	if err := mem.Save(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	g := newRotatingGrant(30 * time.Second)
	ka := newTestKeepAlive(t, mem, NewMemoryLocker(), g, KeepAliveConfig{Interval: 2 * time.Second, Now: func() time.Time { return now }})
	if !ka.cfg.Refresher.Valid(c) {
		t.Fatal("the Refresher finds the token due already: the case is not one the KeepAlive must be ahead of")
	}
	if st := ka.Tick(context.Background()); st.Refreshed != 1 || g.count(c.Key()) != 1 {
		t.Fatalf("tick: %+v, %d token requests; want the token refreshed a tick before it is due", st, g.count(c.Key()))
	}
	// A fresh 30 s token is not refreshed at once.
	fresh, _ := mem.Get(context.Background(), c.Key())
	ka2 := newTestKeepAlive(t, mem, NewMemoryLocker(), g, KeepAliveConfig{Interval: 2 * time.Second,
		Now: func() time.Time { return fresh.Credential.ObtainedAt.Add(time.Second) }})
	if st := ka2.Tick(context.Background()); st.Refreshed != 0 {
		t.Fatalf("a token one second old was refreshed: %+v", st)
	}
}

// BenchmarkUseTrackerUsed is what a proxied request pays to record its
// connection's last use: an atomic store in a sync.Map, no store call.
//
//	go test -run '^$' -bench UseTrackerUsed -benchtime 100000x ./tokens/
func BenchmarkUseTrackerUsed(b *testing.B) {
	cs := &usageStore{Store: NewMemoryStore()}
	u, _ := NewUseTracker(UseTrackerConfig{Store: cs})
	keys := make([]Key, 1024)
	for i := range keys {
		keys[i] = Key{Project: "p", User: "u", Integration: "slack", ID: NewID()}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			u.Used(keys[i%len(keys)])
			i++
		}
	})
	if cs.gets.Load()+cs.saves.Load() != 0 {
		b.Fatal("Used called the store")
	}
}
