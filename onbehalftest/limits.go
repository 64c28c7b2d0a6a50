package onbehalftest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/limits"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/middleware/upstream"
	"github.com/onbehalf/onbehalf/tokens"
)

// LimitsConfig sets up RunLimits.
type LimitsConfig struct {
	// NewLimiter returns replica i's Limiter (from 0): in a deployment each
	// replica has a client of its own over the shared backend. Required.
	NewLimiter func(t *testing.T, i int) limits.Limiter
	// Replicas is the number of handlers; zero means 1.
	Replicas int
	// Rate is what the fake provider allows per account per second (N);
	// zero means 50.
	Rate int
	// Duration of the run; zero means 3 s.
	Duration time.Duration
	// Senders is the number of concurrent clients, spread over the replicas;
	// zero means 3×Rate. A client told 429 waits for its Retry-After.
	Senders int
	// During, when set, runs in its own goroutine once the run has started
	// (to cut a backend mid-run); the run waits for it to return.
	During func()
	// SkipChecks leaves the provider-side checks to the caller (outage runs).
	SkipChecks bool
}

// LimitsReport is what a RunLimits run measured.
type LimitsReport struct {
	Sent          int64   // requests the provider received
	Accepted      int64   // answered 200 by the provider
	Throttled     int64   // answered 429 by the provider
	ProxyLimited  int64   // answered 429 RATE_LIMITED by the proxy (never sent)
	Other         int64   // any other answer of the proxy
	MaxPerSecond  int     // most provider arrivals in one second (fixed windows)
	Throughput    float64 // accepted per second during the run
	ThrottleShare float64 // Throttled / Sent
}

func (r LimitsReport) String() string {
	return fmt.Sprintf("provider saw max %d/s, %.1f accepted/s, %d sent, %d provider 429s (%.2f%%), %d proxy 429s, %d other",
		r.MaxPerSecond, r.Throughput, r.Sent, r.Throttled, 100*r.ThrottleShare, r.ProxyLimited, r.Other)
}

// RunLimits runs the scoped-limit scenario: a fake provider on loopback
// allows Rate requests per second per account (a token bucket with a burst of
// 5) and answers 429 beyond it; Replicas onbehalf handlers, each with its
// own Limiter, serve Senders clients of two users connected to the same
// account, offering several times the rate. The integration's dialect
// declares the limit (Rate per second, scope account by the connection field
// "account"). Unless SkipChecks, it checks that the provider saw at most
// Rate×1.1+1 requests in any second, at most 1% of them answered 429, and at
// least 0.9×Rate accepted per second.
func RunLimits(t *testing.T, cfg LimitsConfig) LimitsReport {
	t.Helper()
	if cfg.NewLimiter == nil {
		t.Fatal("onbehalftest: LimitsConfig.NewLimiter is required")
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Rate == 0 {
		cfg.Rate = 50
	}
	if cfg.Duration == 0 {
		cfg.Duration = 3 * time.Second
	}
	if cfg.Senders == 0 {
		cfg.Senders = 3 * cfg.Rate
	}
	var rep LimitsReport
	t0 := time.Now()
	var mu sync.Mutex
	type arrival struct {
		at time.Time
		ok bool
	}
	var arrivals []arrival
	buckets := map[string]*rate.Limiter{}
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		account, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/acct/"), "/")
		mu.Lock()
		b := buckets[account]
		if b == nil {
			b = rate.NewLimiter(rate.Limit(cfg.Rate), 5)
			buckets[account] = b
		}
		ok := b.Allow()
		arrivals = append(arrivals, arrival{time.Now(), ok})
		mu.Unlock()
		atomic.AddInt64(&rep.Sent, 1)
		if !ok {
			if debugLimits {
				fmt.Println("429 at", time.Since(t0))
			}
			atomic.AddInt64(&rep.Throttled, 1)
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":"rate_limited"}`, http.StatusTooManyRequests)
			return
		}
		atomic.AddInt64(&rep.Accepted, 1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(provider.Close)

	project := fmt.Sprintf("proj-limits-%d", time.Now().UnixNano())
	signer, err := NewSigner("limits-key")
	if err != nil {
		t.Fatal(err)
	}
	store := tokens.NewMemoryStore()
	users := []string{"user-a", "user-b"}
	for _, u := range users {
		if err := store.Save(context.Background(), &tokens.Connection{Project: project, User: u, Integration: "custom.limited",
			Fields:     map[string]string{"account": "acme"},
			Credential: tokens.Credential{AccessToken: "at-" + u, TokenType: "Bearer", Expiry: time.Now().Add(24 * time.Hour)}}); err != nil {
			t.Fatal(err)
		}
	}
	base := LocalhostURL(provider.URL)
	in := TaskLabIntegration(base+"/acct/{account}", "cid", "secret")
	in.Slug, in.ID, in.Name = "limited", "", "Limited"
	in.AllowedHosts = []string{"localhost"}
	in.RateLimits = &integrations.RateLimitInfo{Scope: integrations.ScopeAccount, Field: "account",
		Limits: []integrations.StaticLimit{{Scope: integrations.ScopeAccount, Field: "account", Requests: cfg.Rate, PeriodMs: 1000}}}
	handlers := make([]http.Handler, cfg.Replicas)
	for i := range handlers {
		h, err := middleware.New(middleware.Config{
			Projects: []middleware.ProjectConfig{{ID: project, Keys: []middleware.KeyConfig{signer.KeyConfig()},
				Integrations: []integrations.Config{in}}},
			Store:     store,
			Forwarder: upstream.Config{Limits: upstream.LimitsConfig{Limiter: cfg.NewLimiter(t, i), MaxWait: time.Second}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Close)
		handlers[i] = h
	}
	tokensFor := map[string]string{}
	for _, u := range users {
		tokensFor[u] = signer.MustToken(project, u)
	}

	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for s := range cfg.Senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := handlers[s%len(handlers)]
			u := users[s%len(users)]
			// Clients arrive over the first half second, as they would: a
			// stampede of goroutines verifying tokens at once starves the
			// CPU and bunches the sends (most under -race).
			time.Sleep(time.Duration(s) * 500 * time.Millisecond / time.Duration(cfg.Senders))
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := httptest.NewRequest(http.MethodGet, "/projects/"+project+"/sdk/proxy/custom.limited/records", nil)
				r.Header.Set("Authorization", "Bearer "+tokensFor[u])
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				switch {
				case w.Code == http.StatusOK:
				case w.Code == http.StatusTooManyRequests && w.Header().Get("X-Onbehalf-Error-Source") == "proxy":
					atomic.AddInt64(&rep.ProxyLimited, 1)
				default:
					atomic.AddInt64(&rep.Other, 1)
				}
				if w.Code != http.StatusOK {
					select { // as a client honouring Retry-After would
					case <-stop:
						return
					case <-time.After(time.Second):
					}
				}
			}
		}()
	}
	var during sync.WaitGroup
	if cfg.During != nil {
		during.Add(1)
		go func() { defer during.Done(); cfg.During() }()
	}
	time.Sleep(cfg.Duration)
	close(stop)
	wg.Wait()
	during.Wait()

	mu.Lock()
	defer mu.Unlock()
	if debugLimits {
		for i, a := range arrivals {
			if i > 0 && i < 120 {
				fmt.Printf("%d:%v ", a.at.Sub(start).Milliseconds(), a.ok)
			}
		}
		fmt.Println()
	}
	perSecond := map[int]int{}
	var accepted int
	for _, a := range arrivals {
		perSecond[int(a.at.Sub(start)/time.Second)]++
		if a.ok && a.at.Sub(start) < cfg.Duration {
			accepted++
		}
	}
	for _, n := range perSecond {
		rep.MaxPerSecond = max(rep.MaxPerSecond, n)
	}
	rep.Throughput = float64(accepted) / cfg.Duration.Seconds()
	if rep.Sent > 0 {
		rep.ThrottleShare = float64(rep.Throttled) / float64(rep.Sent)
	}
	t.Logf("%d replica(s), N=%d/s, %d senders, %v: %v", cfg.Replicas, cfg.Rate, cfg.Senders, cfg.Duration, rep)
	if cfg.SkipChecks {
		return rep
	}
	if limit := int(float64(cfg.Rate)*1.1) + 1; rep.MaxPerSecond > limit {
		t.Errorf("provider saw %d requests in one second, want at most %d", rep.MaxPerSecond, limit)
	}
	if rep.ThrottleShare > 0.01 {
		t.Errorf("provider answered 429 to %.2f%% of requests, want at most 1%%", 100*rep.ThrottleShare)
	}
	if rep.Throughput < 0.9*float64(cfg.Rate) {
		t.Errorf("throughput %.1f/s, want at least %.1f", rep.Throughput, 0.9*float64(cfg.Rate))
	}
	return rep
}

var debugLimits = false
