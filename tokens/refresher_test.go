package tokens

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fixture is a store holding one OAuth2 connection, a token endpoint and a
// Refresher over them.
type fixture struct {
	store *MemoryStore
	e     *tokenEndpoint
	g     Grant
	r     *Refresher
	conn  *Connection  // as saved
	clock atomic.Int64 // offset added to time.Now, in nanoseconds
}

func (f *fixture) now() time.Time { return time.Now().Add(time.Duration(f.clock.Load())) }

// newFixture saves a connection whose access token access-0 expires in
// expiresIn (negative: expired) and builds a Refresher with cfg.
func newFixture(t *testing.T, expiresIn time.Duration, cfg RefresherConfig) *fixture {
	t.Helper()
	f := &fixture{store: NewMemoryStore(), e: newTokenEndpoint(t)}
	f.g = RefreshTokenGrant{Config: f.e.config()}
	f.conn = &Connection{Project: "p", User: "u", Integration: "salesforce", ID: "c1",
		Credential: Credential{AccessToken: "access-0", TokenType: "Bearer", RefreshToken: "refresh-0", Expiry: time.Now().Add(expiresIn)},
		Fields:     map[string]string{"instance_url": "https://x.example"}}
	if err := f.store.Save(context.Background(), f.conn); err != nil {
		t.Fatal(err)
	}
	if cfg.Store == nil {
		cfg.Store = f.store
	}
	if cfg.Now == nil {
		cfg.Now = f.now
	}
	r, err := NewRefresher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	return f
}

func (f *fixture) stored(t *testing.T) *Connection {
	t.Helper()
	c, err := f.store.Get(context.Background(), f.conn.Key())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewRefresherConfig(t *testing.T) {
	s := NewMemoryStore()
	for _, tt := range []struct {
		name string
		cfg  RefresherConfig
	}{
		{"no store", RefresherConfig{}},
		{"negative margin", RefresherConfig{Store: s, Margin: -1}},
		{"negative timeout", RefresherConfig{Store: s, Timeout: -1}},
		{"negative cooldown", RefresherConfig{Store: s, Cooldown: -1}},
		{"negative lease", RefresherConfig{Store: s, LeaseTTL: -1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewRefresher(tt.cfg); err == nil {
				t.Fatal("no error")
			}
		})
	}
	r, err := NewRefresher(RefresherConfig{Store: s, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.margin != time.Minute || r.leaseTTL != 9*time.Second || r.heartbeat != r.leaseTTL/3 || r.cooldown != 30*time.Second || r.client.Timeout != 10*time.Second {
		t.Fatalf("defaults: margin %v lease %v cooldown %v client timeout %v", r.margin, r.leaseTTL, r.cooldown, r.client.Timeout)
	}
}

func TestFreshValidFastPath(t *testing.T) {
	f := newFixture(t, time.Hour, RefresherConfig{})
	c := f.stored(t)
	got, err := f.r.Fresh(context.Background(), c, f.g, "")
	if err != nil || got != c {
		t.Fatalf("valid token: got %p, %v; want the same connection back", got, err)
	}
	never := c.Clone()
	never.Credential.Expiry = time.Time{}
	if got, _ := f.r.Fresh(context.Background(), never, f.g, ""); got != never {
		t.Fatal("a token with zero Expiry was not taken as valid")
	}
	// Within Margin of expiry: due.
	soon := c.Clone()
	soon.Credential.Expiry = time.Now().Add(30 * time.Second)
	if f.r.Valid(soon) {
		t.Fatal("a token expiring within Margin was taken as valid")
	}
	if f.e.calls.Load() != 0 {
		t.Fatal("the fast path called the token endpoint")
	}
}

func TestFreshInactiveFailsAtOnce(t *testing.T) {
	f := newFixture(t, -time.Hour, RefresherConfig{})
	c := f.stored(t)
	c.Status = StatusNeedsReauth
	_, err := f.r.Fresh(context.Background(), c, f.g, "")
	if !errors.Is(err, ErrReauthRequired) || f.e.calls.Load() != 0 {
		t.Fatalf("got %v after %d calls, want ErrReauthRequired and none", err, f.e.calls.Load())
	}
}

func TestFreshConcurrentRefreshesOnce(t *testing.T) {
	var refreshed atomic.Int64
	f := newFixture(t, -time.Minute, RefresherConfig{OnRefresh: func(ev RefreshEvent) {
		if ev.Forced || ev.Key != (Key{"p", "u", "salesforce", "c1"}) || ev.Duration <= 0 {
			t.Errorf("RefreshEvent %+v", ev)
		}
		refreshed.Add(1)
	}})
	f.e.setAnswer(func(w http.ResponseWriter, r *http.Request, n int64) {
		time.Sleep(50 * time.Millisecond) // let every caller pile up
		writeToken(w, "access-1", "refresh-1", time.Hour)
	})
	expired := f.stored(t)
	const n = 200
	var wg sync.WaitGroup
	got := make([]*Connection, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { got[i], errs[i] = f.r.Fresh(context.Background(), expired.Clone(), f.g, "") })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if got[i].Credential.AccessToken != "access-1" {
			t.Fatalf("caller %d did not get the new token", i)
		}
	}
	if got[0] == got[1] {
		t.Fatal("callers share one *Connection; each must get its own copy")
	}
	if calls := f.e.calls.Load(); calls != 1 {
		t.Fatalf("token endpoint calls: %d, want 1", calls)
	}
	s := f.stored(t)
	if s.Credential.AccessToken != "access-1" || s.Credential.RefreshToken != "refresh-1" || s.Fields["instance_url"] == "" {
		t.Fatal("store does not hold the rotated tokens with the connection's fields")
	}
	if refreshed.Load() != 1 {
		t.Fatalf("OnRefresh calls: %d, want 1", refreshed.Load())
	}
}

func TestFreshKeepsRefreshTokenWhenNoneReturned(t *testing.T) {
	f := newFixture(t, -time.Minute, RefresherConfig{})
	f.e.setAnswer(func(w http.ResponseWriter, r *http.Request, n int64) { writeToken(w, "access-1", "", time.Hour) })
	got, err := f.r.Fresh(context.Background(), f.stored(t), f.g, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Credential.AccessToken != "access-1" || got.Credential.RefreshToken != "refresh-0" {
		t.Fatal("the refresh token was not kept")
	}
	if f.stored(t).Credential.RefreshToken != "refresh-0" {
		t.Fatal("the store lost the refresh token")
	}
}

func TestFreshCallerCanceledStillSaves(t *testing.T) {
	saved := make(chan RefreshEvent, 1)
	f := newFixture(t, -time.Minute, RefresherConfig{OnRefresh: func(ev RefreshEvent) { saved <- ev }})
	arrived, release := make(chan struct{}), make(chan struct{})
	f.e.setAnswer(func(w http.ResponseWriter, r *http.Request, n int64) {
		close(arrived)
		<-release
		writeToken(w, "access-1", "refresh-1", time.Hour)
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := f.r.Fresh(ctx, f.stored(t), f.g, "")
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled caller: %v, want context.Canceled", err)
	}
	close(release)
	select {
	case <-saved:
	case <-time.After(5 * time.Second):
		t.Fatal("the refresh was abandoned with its caller")
	}
	if s := f.stored(t); s.Credential.AccessToken != "access-1" || s.Credential.RefreshToken != "refresh-1" {
		t.Fatal("store does not hold the new tokens")
	}
}

func TestFreshForced(t *testing.T) {
	f := newFixture(t, time.Hour, RefresherConfig{})
	c := f.stored(t)
	// The upstream rejected access-0 although it looks valid.
	got, err := f.r.Fresh(context.Background(), c, f.g, "access-0")
	if err != nil {
		t.Fatal(err)
	}
	if got.Credential.AccessToken != "access-1" || f.e.calls.Load() != 1 {
		t.Fatalf("forced refresh: %d calls, new token %v", f.e.calls.Load(), got.Credential.AccessToken == "access-1")
	}
	// Another request rejected with the same old token: the store already
	// has a newer valid one, so no token call.
	got, err = f.r.Fresh(context.Background(), c, f.g, "access-0")
	if err != nil || got.Credential.AccessToken != "access-1" || f.e.calls.Load() != 1 {
		t.Fatalf("forced refresh with a newer token stored: %v, %d calls", err, f.e.calls.Load())
	}
	// Passing the newer connection itself returns it at once.
	if again, _ := f.r.Fresh(context.Background(), got, f.g, "access-0"); again != got {
		t.Fatal("a connection newer than the rejected token was not returned as is")
	}
}

func TestFreshForcedConcurrent(t *testing.T) {
	f := newFixture(t, time.Hour, RefresherConfig{})
	c := f.stored(t)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			got, err := f.r.Fresh(context.Background(), c.Clone(), f.g, "access-0")
			if err != nil || got.Credential.AccessToken != "access-1" {
				t.Errorf("forced caller: %v", err)
			}
		})
	}
	wg.Wait()
	if calls := f.e.calls.Load(); calls != 1 {
		t.Fatalf("token endpoint calls: %d, want 1", calls)
	}
}

// gateLocker holds the first Lock until its gate opens.
type gateLocker struct {
	Locker
	gate chan struct{}
	once sync.Once
}

func (l *gateLocker) Lock(ctx context.Context, key string, ttl time.Duration) (Lease, error) {
	l.once.Do(func() { <-l.gate })
	return l.Locker.Lock(ctx, key, ttl)
}

func TestFreshForcedJoiningUnforcedFlight(t *testing.T) {
	locker := &gateLocker{Locker: NewMemoryLocker(), gate: make(chan struct{})}
	f := newFixture(t, time.Hour, RefresherConfig{Locker: locker})
	stale := f.stored(t)
	stale.Credential.Expiry = time.Now().Add(-time.Minute) // an old cached copy: due
	unforced := make(chan error, 1)
	go func() {
		_, err := f.r.Fresh(context.Background(), stale, f.g, "")
		unforced <- err
	}()
	time.Sleep(20 * time.Millisecond) // the unforced flight waits at the gate
	current := f.stored(t)
	forced := make(chan *Connection, 1)
	go func() {
		got, err := f.r.Fresh(context.Background(), current, f.g, "access-0")
		if err != nil {
			t.Error(err)
		}
		forced <- got
	}()
	time.Sleep(20 * time.Millisecond) // the forced caller joins that flight
	close(locker.gate)
	if err := <-unforced; err != nil {
		t.Fatal(err)
	}
	if got := <-forced; got == nil || got.Credential.AccessToken != "access-1" {
		t.Fatal("the forced caller got the rejected token back")
	}
	if calls := f.e.calls.Load(); calls != 1 {
		t.Fatalf("token endpoint calls: %d, want 1", calls)
	}
}

func BenchmarkFreshValid(b *testing.B) {
	r, err := NewRefresher(RefresherConfig{Store: NewMemoryStore()})
	if err != nil {
		b.Fatal(err)
	}
	c := &Connection{Project: "p", User: "u", Integration: "i", ID: "a",
		Credential: Credential{AccessToken: "access-0", Expiry: time.Now().Add(time.Hour)}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Fresh(ctx, c, nil, ""); err != nil {
			b.Fatal(err)
		}
	}
}
