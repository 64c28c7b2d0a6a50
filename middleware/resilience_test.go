package middleware_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/middleware/upstream"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestRetriesThroughHandler: retries are opt-in per integration and per
// request, honour Retry-After, replay only idempotent requests, and the
// control headers never reach the provider.
func TestRetriesThroughHandler(t *testing.T) {
	rec := newRecorder(t)
	var calls atomic.Int64
	rec.setReply(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1)%2 == 1 { // every first try fails
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	retrying := localIntegration(rec, "retrying", integrations.SchemeConfig{Type: integrations.AuthAPIKey})
	retrying.Retry = integrations.RetryConfig{MaxAttempts: 3, BaseDelayMs: 1}
	plain := localIntegration(rec, "plain", integrations.SchemeConfig{Type: integrations.AuthAPIKey})
	e := envWith(t, []integrations.Config{retrying, plain})
	connect(t, e, "retrying", tokens.Credential{APIKey: "k"}, nil)
	connect(t, e, "plain", tokens.Credential{APIKey: "k"}, nil)

	cases := []struct {
		name        string
		integration string
		method      string
		header      http.Header
		wantStatus  int
		wantCalls   int64
	}{
		{"integration policy retries a GET", "retrying", "GET", nil, 200, 2},
		{"POST without Idempotency-Key is not replayed", "retrying", "POST", nil, 503, 1},
		{"POST with Idempotency-Key is replayed", "retrying", "POST", http.Header{"Idempotency-Key": {"abc"}}, 200, 2},
		{"request header turns retries off", "retrying", "GET", http.Header{upstream.RetryHeader: {"0"}}, 503, 1},
		{"no policy: no retry", "plain", "GET", nil, 503, 1},
		{"request header turns retries on", "plain", "PUT", http.Header{upstream.RetryHeader: {"2"}}, 200, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls.Store(0)
			body := `{"x":1}`
			resp := e.Do(t, tc.method, e.ProxyURL(tc.integration, "things"), &body, tc.header)
			readBody(t, resp)
			if resp.StatusCode != tc.wantStatus || calls.Load() != tc.wantCalls {
				t.Fatalf("got %d after %d upstream calls, want %d after %d", resp.StatusCode, calls.Load(), tc.wantStatus, tc.wantCalls)
			}
			for k := range rec.last(t).Header {
				if k == upstream.RetryHeader || k == "Idempotency-Key" && tc.header == nil {
					t.Fatalf("%s reached the provider", k)
				}
			}
			if got := rec.last(t).Body; got != body {
				t.Fatalf("upstream body %q, want %q", got, body)
			}
		})
	}
	resp := e.Do(t, "GET", e.ProxyURL("plain", "x"), nil, http.Header{upstream.RetryHeader: {"eleven"}})
	if b := errorBody(t, resp); resp.StatusCode != 400 || b.Code != "BAD_REQUEST" {
		t.Fatalf("bad retry header: %d %+v", resp.StatusCode, b)
	}
}

// TestTimeoutHeader: a caller can shorten the deadline, never extend it.
func TestTimeoutHeader(t *testing.T) {
	rec := newRecorder(t)
	rec.setReply(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	e := envWith(t, []integrations.Config{localIntegration(rec, "slow", integrations.SchemeConfig{Type: integrations.AuthAPIKey})})
	connect(t, e, "slow", tokens.Credential{APIKey: "k"}, nil)
	start := time.Now()
	resp := e.Do(t, "GET", e.ProxyURL("slow", "x"), nil, http.Header{upstream.TimeoutHeader: {"200"}})
	if b := errorBody(t, resp); resp.StatusCode != 504 || b.Code != "UPSTREAM_TIMEOUT" || time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("got %d %+v after %v", resp.StatusCode, b, time.Since(start))
	}
	resp = e.Do(t, "GET", e.ProxyURL("slow", "x"), nil, http.Header{upstream.TimeoutHeader: {"-5"}})
	if b := errorBody(t, resp); resp.StatusCode != 400 {
		t.Fatalf("bad timeout header: %d %+v", resp.StatusCode, b)
	}
}

// TestHeaderTimeoutWithoutDeadline: with no overall deadline (Timeout < 0),
// the transport's ResponseHeaderTimeout still bounds the wait for headers.
// (With a deadline, the default transport has none: the deadline bounds it,
// as TestTimeoutHeader shows.)
func TestHeaderTimeoutWithoutDeadline(t *testing.T) {
	rec := newRecorder(t)
	rec.setReply(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	e := envWith(t, []integrations.Config{localIntegration(rec, "slow", integrations.SchemeConfig{Type: integrations.AuthAPIKey})},
		func(c *middleware.Config) {
			c.Forwarder.Timeout = -1
			c.Forwarder.Transport.ResponseHeaderTimeout = 200 * time.Millisecond
		})
	connect(t, e, "slow", tokens.Credential{APIKey: "k"}, nil)
	start := time.Now()
	resp := e.Do(t, "GET", e.ProxyURL("slow", "x"), nil, nil)
	if b := errorBody(t, resp); resp.StatusCode != 504 || b.Code != "UPSTREAM_TIMEOUT" || time.Since(start) > 2*time.Second {
		t.Fatalf("got %d %+v after %v", resp.StatusCode, b, time.Since(start))
	}
}

// TestThrottleThroughHandler: a connection whose provider said it has no
// calls left does not reach the provider until the reset; it gets 429
// RATE_LIMITED with Retry-After at once.
func TestThrottleThroughHandler(t *testing.T) {
	rec := newRecorder(t)
	rec.setReply(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", "60")
		_, _ = io.WriteString(w, `{}`)
	})
	in := localIntegration(rec, "limited", integrations.SchemeConfig{Type: integrations.AuthAPIKey})
	in.Throttle = integrations.ThrottleConfig{Enabled: true, FailFast: true}
	e := envWith(t, []integrations.Config{in})
	connect(t, e, "limited", tokens.Credential{APIKey: "k"}, nil)
	readBody(t, e.Do(t, "GET", e.ProxyURL("limited", "x"), nil, nil))
	for range 3 {
		resp := e.Do(t, "GET", e.ProxyURL("limited", "x"), nil, nil)
		b := errorBody(t, resp)
		if resp.StatusCode != 429 || b.Code != "RATE_LIMITED" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("got %d %+v Retry-After %q", resp.StatusCode, b, resp.Header.Get("Retry-After"))
		}
	}
	if n := rec.count.Load(); n != 1 {
		t.Fatalf("the provider got %d calls, want 1", n)
	}
}

// TestDeadlineBoundsRefreshWait: the request's deadline starts when the
// request comes in, so a caller waiting for a slow token endpoint gets 504
// REFRESH_TIMEOUT when its deadline runs out, not after the Refresher's own
// (longer) timeout; the refresh itself goes on and its token is saved.
func TestDeadlineBoundsRefreshWait(t *testing.T) {
	rec := newRecorder(t)
	release := make(chan struct{})
	var tokenCalls atomic.Int64
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenCalls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"fresh-at","refresh_token":"fresh-rt","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(tokenSrv.Close)
	t.Cleanup(func() { close(release) })
	in := localIntegration(rec, "slowtoken", integrations.SchemeConfig{Type: integrations.AuthOAuth2,
		TokenURL: tokenSrv.URL + "/token", ClientID: "cid", ClientSecret: "secret"})
	e := envWith(t, []integrations.Config{in})
	connect(t, e, "slowtoken", tokens.Credential{AccessToken: "old-at", RefreshToken: "old-rt", TokenType: "Bearer",
		Expiry: time.Now().Add(-time.Minute)}, nil)
	start := time.Now()
	resp := e.Do(t, "GET", e.ProxyURL("slowtoken", "x"), nil, http.Header{upstream.TimeoutHeader: {"300"}})
	took := time.Since(start)
	if b := errorBody(t, resp); resp.StatusCode != 504 || b.Code != "REFRESH_TIMEOUT" || took > 2*time.Second {
		t.Fatalf("got %d %+v after %v; want 504 REFRESH_TIMEOUT within about 300 ms", resp.StatusCode, b, took)
	}
	if rec.count.Load() != 0 {
		t.Fatal("the provider was called without a fresh token")
	}
	if tokenCalls.Load() != 1 {
		t.Fatalf("token endpoint calls %d, want 1", tokenCalls.Load())
	}
}
