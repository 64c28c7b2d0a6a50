package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/tokens"
)

// RunRefresh runs the Refresher's checks across replicas against a Store
// and a Locker: several Refreshers, each over the Store and Locker that
// newReplica returns for replica i (for an external backend, one with a
// client or pool of its own, as each process of a deployment has; for an
// in-process one, the same Store and Locker every time), share one
// connection, against a strict token endpoint that accepts each refresh
// token once.
//
//   - ShortLivedTokens: 30-second access tokens, far shorter than the
//     Refresher's one-minute Margin, hammered by every replica over five
//     lifetimes of a simulated clock: each token is refreshed exactly once,
//     no earlier than halfway through its life, and no caller sees an error.
//   - SlowHolder: a holder whose token request outlasts its LeaseTTL three
//     times keeps the lease by its heartbeat; the other replica waits.
//   - CrashedHolderGrace, CrashedHolderStrict: a holder spends the refresh
//     token and dies before saving; another replica takes over within about
//     LeaseTTL (one second here), finds the holder's refresh intent and
//     retries the same refresh token: answered under a reuse grace period,
//     refused by a strict provider, which leaves the connection
//     StatusNeedsReauth with ReasonRefreshLost.
//
// The Locker's leases should implement tokens.Extender.
func RunRefresh(t *testing.T, newReplica func(t *testing.T, i int) (tokens.Store, tokens.Locker)) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, func(t *testing.T, i int) (tokens.Store, tokens.Locker))
	}{
		{"ShortLivedTokens", testShortLivedTokens},
		{"SlowHolder", testSlowHolder},
		{"CrashedHolderGrace", func(t *testing.T, nr func(t *testing.T, i int) (tokens.Store, tokens.Locker)) {
			testCrashedHolder(t, nr, true)
		}},
		{"CrashedHolderStrict", func(t *testing.T, nr func(t *testing.T, i int) (tokens.Store, tokens.Locker)) {
			testCrashedHolder(t, nr, false)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newReplica) })
	}
}

// clock is a simulated clock: the real time plus an offset that the test
// advances.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time                  { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration)         { c.offset.Add(int64(d)) }
func (c *clock) since(t time.Time) time.Duration { return c.now().Sub(t) }

// provider is a strict token endpoint, as a tokens.Grant: each refresh token
// is answered once, with a new access token that lives life and a new
// refresh token (rotation). With grace, the refresh token before the
// current one is answered once more, as providers with a reuse grace
// period do. Any other refresh token gets invalid_grant.
type provider struct {
	now   func() time.Time
	life  time.Duration
	grace bool
	// enter, when not nil, receives once per call before it is answered.
	enter chan struct{}
	// hold, when not nil, blocks each call until it is closed (or ctx ends).
	hold chan struct{}

	mu       sync.Mutex
	n        int    // tokens issued
	current  string // the live refresh token
	previous string // the one before it, not yet reused
	calls    int
	early    int // calls while the presented token was not yet due
	issuedAt map[string]time.Time
}

func newProvider(now func() time.Time, life time.Duration) *provider {
	p := &provider{now: now, life: life, current: "storetest-refresh-0", issuedAt: map[string]time.Time{}}
	p.issuedAt[p.current] = now()
	return p
}

// initial returns the credential of token 0.
func (p *provider) initial() tokens.Credential {
	now := p.now()
	return tokens.Credential{AccessToken: "storetest-access-0", TokenType: "Bearer", RefreshToken: p.current,
		Expiry: now.Add(p.life), ObtainedAt: now}
}

func (p *provider) Token(ctx context.Context, c *tokens.Connection) (*oauth2.Token, error) {
	if p.enter != nil {
		select {
		case p.enter <- struct{}{}:
		default:
		}
	}
	if p.hold != nil {
		select {
		case <-p.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	rt := c.Credential.RefreshToken
	switch {
	case rt == p.current:
		if p.now().Sub(p.issuedAt[rt]) < time.Duration(float64(p.life)*tokens.MaxMarginFraction) {
			p.early++
		}
		p.previous = rt
	case p.grace && rt != "" && rt == p.previous:
		p.previous = "" // once
	default:
		return nil, &oauth2.RetrieveError{ErrorCode: "invalid_grant"}
	}
	p.n++
	p.current = fmt.Sprintf("storetest-refresh-%d", p.n)
	p.issuedAt[p.current] = p.now()
	return &oauth2.Token{AccessToken: fmt.Sprintf("storetest-access-%d", p.n), TokenType: "Bearer",
		RefreshToken: p.current, Expiry: p.now().Add(p.life)}, nil
}

func (p *provider) stats() (calls, issued, early int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, p.n, p.early
}

func newRefresher(t *testing.T, cfg tokens.RefresherConfig) *tokens.Refresher {
	t.Helper()
	r, err := tokens.NewRefresher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testShortLivedTokens(t *testing.T, newReplica func(t *testing.T, i int) (tokens.Store, tokens.Locker)) {
	const (
		replicas = 3
		workers  = 8 // per replica
		life     = 30 * time.Second
		cycles   = 5
		step     = time.Second
	)
	clk := &clock{}
	prov := newProvider(clk.now, life)
	stores := make([]tokens.Store, replicas)
	refreshers := make([]*tokens.Refresher, replicas)
	for i := range replicas {
		var locker tokens.Locker
		stores[i], locker = newReplica(t, i)
		refreshers[i] = newRefresher(t, tokens.RefresherConfig{Store: stores[i], Locker: locker, Now: clk.now, Timeout: 10 * time.Second})
	}
	conn := &tokens.Connection{Project: project(t), User: "u1", Integration: "short", ID: "a", Credential: prov.initial()}
	mustSave(t, stores[0], conn)

	var stop atomic.Bool
	var requests, failures atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	for i := range replicas {
		for range workers {
			wg.Go(func() {
				for !stop.Load() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					c, err := stores[i].Get(ctx, conn.Key())
					if err == nil {
						c, err = refreshers[i].Fresh(ctx, c, prov, "")
					}
					cancel()
					requests.Add(1)
					if err == nil && !c.Credential.Expiry.After(clk.now()) {
						err = errors.New("Fresh returned an expired token")
					}
					if err != nil {
						failures.Add(1)
						firstErr.Do(func() { t.Errorf("replica %d: %v", i, err) })
					}
					time.Sleep(time.Millisecond)
				}
			})
		}
	}
	steps := int(cycles * life / step)
	for range steps {
		time.Sleep(10 * time.Millisecond)
		clk.advance(step)
	}
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	calls, issued, early := prov.stats()
	maxRefreshes := int(cycles * life / time.Duration(float64(life)*tokens.MaxMarginFraction))
	t.Logf("%d replicas, %d requests over %d lifetimes of %v: %d token requests, %d tokens issued, %d early, %d caller errors",
		replicas, requests.Load(), cycles, life, calls, issued, early, failures.Load())
	if calls != issued {
		t.Errorf("token requests: %d, tokens issued: %d; want each refresh token spent exactly once", calls, issued)
	}
	if early != 0 {
		t.Errorf("%d refreshes of a token before half its life had passed, want 0", early)
	}
	if issued > maxRefreshes || issued < cycles {
		t.Errorf("refreshes: %d, want at least one per lifetime (%d) and at most one per half lifetime (%d)", issued, cycles, maxRefreshes)
	}
	if failures.Load() != 0 {
		t.Errorf("%d of %d callers got an error, want none", failures.Load(), requests.Load())
	}
}
