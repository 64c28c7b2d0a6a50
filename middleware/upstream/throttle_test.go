package upstream

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

func throttleCtx(t *testing.T, tc integrations.ThrottleConfig, connID string) context.Context {
	t.Helper()
	in, err := integrations.New(integrations.Config{Type: "api", BaseURL: "https://api.example.com", Throttle: tc})
	if err != nil {
		t.Fatal(err)
	}
	return WithState(context.Background(), &State{Integration: in,
		Connection: &tokens.Connection{Project: "p", User: "u", Integration: "api", ID: connID}})
}

func get(t *testing.T, rt http.RoundTripper, ctx context.Context) (*http.Response, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.example.com/x", nil)
	return rt.RoundTrip(req)
}

// A connection whose provider said "0 remaining, reset in 30 s" does not reach
// the provider again before the reset: it fails fast with 429 RATE_LIMITED and
// Retry-After, and other connections are not affected.
func TestThrottleBlocksExhaustedConnection(t *testing.T) {
	f := &fakeRT{replies: []func(*http.Request) (*http.Response, error){
		status(200, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "30"),
		status(200),
	}}
	tt := newThrottleTransport(f, time.Now)
	cfg := integrations.ThrottleConfig{Enabled: true, MaxWaitMs: 100}
	if resp, err := get(t, tt, throttleCtx(t, cfg, "c1")); err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	for range 5 {
		_, err := get(t, tt, throttleCtx(t, cfg, "c1"))
		var re *response.Error
		if !errors.As(err, &re) || re.Status != 429 || re.Code != response.CodeRateLimited || re.RetryAfter < 29*time.Second {
			t.Fatalf("got %v, want 429 RATE_LIMITED with Retry-After ~30s", err)
		}
	}
	if f.calls.Load() != 1 {
		t.Fatalf("the provider got %d calls, want 1", f.calls.Load())
	}
	if resp, err := get(t, tt, throttleCtx(t, cfg, "c2")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("another connection was throttled: %v %v", resp, err)
	}
}

// A 429 with Retry-After blocks the connection for that long; a short block
// is waited out rather than failed.
func TestThrottleWaitsShortBlock(t *testing.T) {
	f := &fakeRT{replies: []func(*http.Request) (*http.Response, error){status(429, "Retry-After", "1"), status(200)}}
	tt := newThrottleTransport(f, time.Now)
	cfg := integrations.ThrottleConfig{Enabled: true, MaxWaitMs: 3000}
	resp, _ := get(t, tt, throttleCtx(t, cfg, "c1"))
	if resp.StatusCode != 429 {
		t.Fatal(resp.StatusCode)
	}
	start := time.Now()
	resp, err := get(t, tt, throttleCtx(t, cfg, "c1"))
	if err != nil || resp.StatusCode != 200 || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("got %v %v after %v, want 200 after waiting ~1s", resp, err, time.Since(start))
	}
	// FailFast answers at once instead.
	f2 := &fakeRT{replies: []func(*http.Request) (*http.Response, error){status(429, "Retry-After", "1"), status(200)}}
	tt2 := newThrottleTransport(f2, time.Now)
	ff := integrations.ThrottleConfig{Enabled: true, FailFast: true}
	_, _ = get(t, tt2, throttleCtx(t, ff, "c1"))
	if _, err := get(t, tt2, throttleCtx(t, ff, "c1")); err == nil || f2.calls.Load() != 1 {
		t.Fatalf("fail-fast let a call through: %v, %d calls", err, f2.calls.Load())
	}
}

// A static rate limits a burst of requests per connection.
func TestThrottleStaticRate(t *testing.T) {
	f := &fakeRT{replies: []func(*http.Request) (*http.Response, error){status(200)}}
	tt := newThrottleTransport(f, time.Now)
	cfg := integrations.ThrottleConfig{Enabled: true, FailFast: true, RequestsPerSecond: 1, Burst: 2}
	ok, limited := 0, 0
	for range 5 {
		if _, err := get(t, tt, throttleCtx(t, cfg, "c1")); err == nil {
			ok++
		} else {
			limited++
		}
	}
	if ok != 2 || limited != 3 || f.calls.Load() != 2 {
		t.Fatalf("ok %d limited %d calls %d, want 2/3/2", ok, limited, f.calls.Load())
	}
}

// Throttling off: nothing is tracked.
func TestThrottleDisabled(t *testing.T) {
	f := &fakeRT{replies: []func(*http.Request) (*http.Response, error){status(200, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "30")}}
	tt := newThrottleTransport(f, time.Now)
	for range 3 {
		if _, err := get(t, tt, throttleCtx(t, integrations.ThrottleConfig{}, "c1")); err != nil {
			t.Fatal(err)
		}
	}
	if f.calls.Load() != 3 {
		t.Fatal(f.calls.Load())
	}
}
