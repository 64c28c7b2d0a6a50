package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/limits"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// Throttled answers beyond 429, as the providers document them: Google APIs
// answer 403 with reason rateLimitExceeded or userRateLimitExceeded
// (https://developers.google.com/drive/api/guides/limits), Salesforce 403
// REQUEST_LIMIT_EXCEEDED when the org's daily API budget is spent
// (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm);
// both checked 2026-12-02.
const (
	googleThrottled     = `{"error":{"errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded","message":"User Rate Limit Exceeded"}],"code":403,"message":"User Rate Limit Exceeded"}}`
	googleForbidden     = `{"error":{"errors":[{"domain":"global","reason":"insufficientPermissions","message":"Insufficient Permission"}],"code":403,"message":"Insufficient Permission"}}`
	salesforceThrottled = `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`
	salesforceForbidden = `[{"message":"insufficient access rights on object id","errorCode":"INSUFFICIENT_ACCESS_OR_READONLY"}]`
)

// googleDialect and salesforceDialect are the catalog entries' dialects for
// those answers, held here so that the stage's behaviour is tested apart
// from the catalog's contents.
var (
	googleDialect = &integrations.RateLimitInfo{BlockMs: 30_000,
		Throttled: []integrations.ThrottledAnswer{{Status: 403, BodyContains: "RateLimitExceeded"}}}
	salesforceDialect = &integrations.RateLimitInfo{BlockMs: 60_000, Scope: integrations.ScopeAccount, Field: "instance_url",
		UsageHeader: "Sforce-Limit-Info", UsageKey: "api-usage",
		Throttled: []integrations.ThrottledAnswer{{Status: 403, BodyContains: "REQUEST_LIMIT_EXCEEDED"}}}
)

// stageReq is a request through the limits stage for connection id of
// user, with the given connection fields.
func stageReq(t *testing.T, in *integrations.Integration, id string, fields map[string]string) *http.Request {
	t.Helper()
	ctx := WithState(context.Background(), &State{Integration: in,
		Connection: &tokens.Connection{ID: id, Project: "p", User: "u-" + id, Integration: in.Key(), Fields: fields}})
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.example.com/x", nil)
	return req
}

func body(code int, b string, header ...string) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		resp, _ := status(code, header...)(req)
		resp.Body = io.NopCloser(strings.NewReader(b))
		return resp, nil
	}
}

// wantRateLimited checks that err is the stage's 429 RATE_LIMITED with a
// Retry-After within [min, max].
func wantRateLimited(t *testing.T, resp *http.Response, err error, lo, hi time.Duration) {
	t.Helper()
	var re *response.Error
	if !errors.As(err, &re) || re.Status != 429 || re.Code != response.CodeRateLimited || re.RetryAfter < lo || re.RetryAfter > hi {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("got status %d, error %v; want 429 RATE_LIMITED with Retry-After in [%v, %v]", status, err, lo, hi)
	}
}

// TestLimitsThrottled403: a 403 whose body the dialect names as throttled
// (Google's rateLimitExceeded family, Salesforce's REQUEST_LIMIT_EXCEEDED)
// reaches the caller as the provider sent it, body intact, and blocks its
// scope for the dialect's block time (or the answer's Retry-After): no
// request of the scope is forwarded during the block, each answers 429
// RATE_LIMITED with Retry-After. Scopes outside it go on. A 403 with
// another body blocks nothing.
func TestLimitsThrottled403(t *testing.T) {
	cases := []struct {
		name      string
		dialect   *integrations.RateLimitInfo
		throttled string
		forbidden string
		header    []string                      // headers on the throttled answer
		fields    func(i int) map[string]string // connection i's fields
		shared    bool                          // connections 0 and 1 share the scope
		lo, hi    time.Duration                 // the block's Retry-After
	}{
		{name: "google rateLimitExceeded, per connection", dialect: googleDialect,
			throttled: googleThrottled, forbidden: googleForbidden,
			fields: func(int) map[string]string { return nil }, lo: 29 * time.Second, hi: 30 * time.Second},
		{name: "google with Retry-After", dialect: googleDialect, throttled: googleThrottled, forbidden: googleForbidden,
			header: []string{"Retry-After", "5"},
			fields: func(int) map[string]string { return nil }, lo: 4 * time.Second, hi: 5 * time.Second},
		{name: "salesforce REQUEST_LIMIT_EXCEEDED, per org", dialect: salesforceDialect,
			throttled: salesforceThrottled, forbidden: salesforceForbidden,
			fields: func(i int) map[string]string {
				if i < 2 {
					return map[string]string{"instance_url": "https://acme.my.salesforce.com"}
				}
				return map[string]string{"instance_url": "https://other.my.salesforce.com"}
			}, shared: true, lo: 59 * time.Second, hi: 60 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := integrations.New(integrations.Config{Type: "custom", Slug: "rl", BaseURL: "https://api.example.com", RateLimits: tc.dialect})
			if err != nil {
				t.Fatal(err)
			}
			f := &fakeRT{replies: []func(*http.Request) (*http.Response, error){body(403, tc.throttled, tc.header...), body(200, `{}`)}}
			lt, err := newLimitsTransport(LimitsConfig{MaxWait: 100 * time.Millisecond}, f)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := lt.RoundTrip(stageReq(t, in, "c0", tc.fields(0)))
			if err != nil || resp.StatusCode != 403 {
				t.Fatalf("the throttled answer: %v %v, want the provider's 403", resp, err)
			}
			if b, _ := io.ReadAll(resp.Body); string(b) != tc.throttled {
				t.Fatalf("the caller got body %q, want the provider's %q", b, tc.throttled)
			}
			for range 3 {
				resp, err := lt.RoundTrip(stageReq(t, in, "c0", tc.fields(0)))
				wantRateLimited(t, resp, err, tc.lo, tc.hi)
			}
			if tc.shared {
				resp, err := lt.RoundTrip(stageReq(t, in, "c1", tc.fields(1)))
				wantRateLimited(t, resp, err, tc.lo, tc.hi)
			}
			if n := f.calls.Load(); n != 1 {
				t.Fatalf("the provider got %d requests, want 1: nothing is forwarded during the block", n)
			}
			if resp, err := lt.RoundTrip(stageReq(t, in, "c2", tc.fields(2))); err != nil || resp.StatusCode != 200 {
				t.Fatalf("another scope was blocked: %v %v", resp, err)
			}

			// A 403 that is not the throttled one (missing permissions) is the
			// caller's to read, and blocks nothing.
			f2 := &fakeRT{replies: []func(*http.Request) (*http.Response, error){body(403, tc.forbidden), body(200, `{}`)}}
			lt2, err := newLimitsTransport(LimitsConfig{MaxWait: 100 * time.Millisecond}, f2)
			if err != nil {
				t.Fatal(err)
			}
			resp, err = lt2.RoundTrip(stageReq(t, in, "c0", tc.fields(0)))
			if err != nil || resp.StatusCode != 403 {
				t.Fatalf("a plain 403: %v %v, want the provider's 403", resp, err)
			}
			if b, _ := io.ReadAll(resp.Body); string(b) != tc.forbidden {
				t.Fatalf("the caller got body %q, want the provider's %q", b, tc.forbidden)
			}
			if resp, err := lt2.RoundTrip(stageReq(t, in, "c0", tc.fields(0))); err != nil || resp.StatusCode != 200 || f2.calls.Load() != 2 {
				t.Fatalf("after a plain 403: %v %v (%d provider calls), want the request forwarded", resp, err, f2.calls.Load())
			}
		})
	}
}

// downLimiter is a shared limiter whose backend is unreachable, failing
// closed.
type downLimiter struct{}

func (downLimiter) Reserve(context.Context, limits.Request) (limits.Decision, error) {
	return limits.Decision{}, fmt.Errorf("%w: dial tcp: connection refused", limits.ErrUnavailable)
}

func (downLimiter) Block(context.Context, string, time.Time) error { return limits.ErrUnavailable }

// TestLimitsFailClosed: a limiter that cannot decide (a shared limiter
// failing closed while its backend is down) sends nothing: the request
// answers 503 LIMITER_UNAVAILABLE with Retry-After, its body closed, and the
// provider is not called; the backend's error text is not in the message.
func TestLimitsFailClosed(t *testing.T) {
	for _, rl := range []*integrations.RateLimitInfo{
		{Limits: []integrations.StaticLimit{{Requests: 10, PeriodMs: 1000}}}, // a permit of a static limit
		nil, // the blocks only
	} {
		t.Run(fmt.Sprintf("static limits %v", rl != nil), func(t *testing.T) {
			ig, err := integrations.New(integrations.Config{Type: "custom", Slug: "rl", BaseURL: "https://api.example.com", RateLimits: rl})
			if err != nil {
				t.Fatal(err)
			}
			f := &fakeRT{replies: []func(*http.Request) (*http.Response, error){body(200, `{}`)}}
			lt, err := newLimitsTransport(LimitsConfig{Limiter: downLimiter{}}, f)
			if err != nil {
				t.Fatal(err)
			}
			req := stageReq(t, ig, "c0", nil)
			b := &closeRecorder{Reader: strings.NewReader("payload")}
			req.Body = b
			resp, err := lt.RoundTrip(req)
			var re *response.Error
			if !errors.As(err, &re) || re.Status != 503 || re.Code != response.CodeLimiterUnavailable || re.RetryAfter != LimiterRetryAfter {
				t.Fatalf("got %v, %v; want 503 LIMITER_UNAVAILABLE with Retry-After %v", resp, err, LimiterRetryAfter)
			}
			if strings.Contains(re.Message, "refused") {
				t.Fatalf("the message %q carries the backend's error", re.Message)
			}
			if f.calls.Load() != 0 || !b.closed {
				t.Fatalf("provider calls %d, body closed %v: want nothing sent and the body closed", f.calls.Load(), b.closed)
			}
		})
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// TestLimitsSpentBudget: an answer whose budget headers say the budget is
// spent (Salesforce's Sforce-Limit-Info api-usage at its limit, Shopify's
// call-limit header full, remaining 0 with a reset) blocks the scope the
// dialect names, until the reset or for blockMs; nothing of the scope is
// forwarded meanwhile. Room left blocks nothing.
func TestLimitsSpentBudget(t *testing.T) {
	shop := func(s string) map[string]string { return map[string]string{"shop": s} }
	org := func(s string) map[string]string { return map[string]string{"instance_url": s} }
	cases := []struct {
		name       string
		dialect    *integrations.RateLimitInfo
		spent, ok  []string // headers of a spent budget, of room left
		same, diff map[string]string
		lo, hi     time.Duration
	}{
		{"salesforce api-usage, per org", salesforceDialect,
			[]string{"Sforce-Limit-Info", "api-usage=15000/15000"}, []string{"Sforce-Limit-Info", "api-usage=14999/15000"},
			org("https://acme.my.salesforce.com"), org("https://other.my.salesforce.com"), 59 * time.Second, 60 * time.Second},
		{"shopify call limit, per shop", &integrations.RateLimitInfo{Scope: integrations.ScopeAccount, Field: "shop",
			UsageHeader: "X-Shopify-Shop-Api-Call-Limit"},
			[]string{"X-Shopify-Shop-Api-Call-Limit", "40/40"}, []string{"X-Shopify-Shop-Api-Call-Limit", "39/40"},
			shop("acme.myshopify.com"), shop("other.myshopify.com"), time.Second, time.Second},
		{"remaining 0 with a reset in seconds", &integrations.RateLimitInfo{RemainingHeader: "X-RateLimit-Remaining",
			ResetHeader: "X-RateLimit-Reset", ResetFormat: "seconds"},
			[]string{"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "20"}, []string{"X-RateLimit-Remaining", "1", "X-RateLimit-Reset", "20"},
			nil, nil, 19 * time.Second, 20 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := integrations.New(integrations.Config{Type: "custom", Slug: "rl", BaseURL: "https://api.example.com", RateLimits: tc.dialect})
			if err != nil {
				t.Fatal(err)
			}
			// Room left: nothing blocks.
			f := &fakeRT{replies: []func(*http.Request) (*http.Response, error){status(200, tc.ok...)}}
			lt, err := newLimitsTransport(LimitsConfig{MaxWait: 100 * time.Millisecond}, f)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if resp, err := lt.RoundTrip(stageReq(t, in, "c0", tc.same)); err != nil || resp.StatusCode != 200 {
					t.Fatalf("request %d with room left: %v %v", i+1, resp, err)
				}
			}
			// Spent: the answer reaches the caller, then the scope is blocked.
			f = &fakeRT{replies: []func(*http.Request) (*http.Response, error){status(200, tc.spent...), status(200)}}
			if lt, err = newLimitsTransport(LimitsConfig{MaxWait: 100 * time.Millisecond}, f); err != nil {
				t.Fatal(err)
			}
			if resp, err := lt.RoundTrip(stageReq(t, in, "c0", tc.same)); err != nil || resp.StatusCode != 200 {
				t.Fatalf("the answer spending the budget: %v %v", resp, err)
			}
			resp, err := lt.RoundTrip(stageReq(t, in, "c0", tc.same))
			wantRateLimited(t, resp, err, tc.lo, tc.hi)
			if tc.same != nil { // another connection of the same account
				resp, err := lt.RoundTrip(stageReq(t, in, "c1", tc.same))
				wantRateLimited(t, resp, err, tc.lo, tc.hi)
			}
			if n := f.calls.Load(); n != 1 {
				t.Fatalf("the provider got %d requests, want 1", n)
			}
			if resp, err := lt.RoundTrip(stageReq(t, in, "c2", tc.diff)); err != nil || resp.StatusCode != 200 {
				t.Fatalf("another scope was blocked: %v %v", resp, err)
			}
		})
	}
}
