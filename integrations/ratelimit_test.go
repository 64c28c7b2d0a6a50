package integrations_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
)

func rlConfig(rl *integrations.RateLimitInfo) integrations.Config {
	return integrations.Config{Type: "custom", Slug: "rl", BaseURL: "https://api.example.com", RateLimits: rl}
}

func TestRateLimitsValidate(t *testing.T) {
	tests := []struct {
		name string
		rl   integrations.RateLimitInfo
		want string // in the error; "" means valid
	}{
		{"empty", integrations.RateLimitInfo{}, ""},
		{"account limit", integrations.RateLimitInfo{Limits: []integrations.StaticLimit{{Scope: "account", Field: "realm_id", Requests: 10, PeriodMs: 1000}}}, ""},
		{"bad scope", integrations.RateLimitInfo{Limits: []integrations.StaticLimit{{Scope: "org", Requests: 1, PeriodMs: 1}}}, "scope \"org\""},
		{"account without field", integrations.RateLimitInfo{Limits: []integrations.StaticLimit{{Scope: "account", Requests: 1, PeriodMs: 1}}}, "needs the connection field"},
		{"field without account", integrations.RateLimitInfo{Scope: "connection", Field: "shop"}, "only for scope account"},
		{"zero requests", integrations.RateLimitInfo{Limits: []integrations.StaticLimit{{Requests: 0, PeriodMs: 1000}}}, "must be positive"},
		{"negative burst", integrations.RateLimitInfo{Limits: []integrations.StaticLimit{{Requests: 2, PeriodMs: 1000, Burst: -1}}}, "burst"},
		{"throttled 200", integrations.RateLimitInfo{Throttled: []integrations.ThrottledAnswer{{Status: 200}}}, "not 4xx or 5xx"},
		{"reset format", integrations.RateLimitInfo{ResetFormat: "fortnights"}, "resetFormat"},
		{"usage key alone", integrations.RateLimitInfo{UsageKey: "api-usage"}, "usageKey needs usageHeader"},
		{"negative block", integrations.RateLimitInfo{BlockMs: -1}, "blockMs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := integrations.New(rlConfig(&tt.rl))
			if tt.want == "" && err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestRateLimitsObserve(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name          string
		rl            *integrations.RateLimitInfo
		h             http.Header
		remaining     int
		reset         time.Duration
		exhausted     bool
		retryAfter    time.Duration
		throttledWhen int
	}{
		{"shopify used/size", &integrations.RateLimitInfo{UsageHeader: "X-Shopify-Shop-Api-Call-Limit"},
			http.Header{"X-Shopify-Shop-Api-Call-Limit": {"40/40"}}, 0, 0, true, 0, 0},
		{"shopify room", &integrations.RateLimitInfo{UsageHeader: "X-Shopify-Shop-Api-Call-Limit"},
			http.Header{"X-Shopify-Shop-Api-Call-Limit": {"32/40"}}, 8, 0, false, 0, 0},
		{"salesforce api-usage", &integrations.RateLimitInfo{UsageHeader: "Sforce-Limit-Info", UsageKey: "api-usage"},
			http.Header{"Sforce-Limit-Info": {"per-app-api-usage=3/100(appName=x), api-usage=15000/15000"}}, 0, 0, true, 0, 0},
		{"github unix reset", &integrations.RateLimitInfo{RemainingHeader: "x-ratelimit-remaining", ResetHeader: "x-ratelimit-reset", ResetFormat: "unix"},
			http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"1800000030"}}, 0, 30 * time.Second, true, 0, 0},
		{"atlassian iso reset", &integrations.RateLimitInfo{RemainingHeader: "X-RateLimit-Remaining", ResetHeader: "X-RateLimit-Reset", ResetFormat: "iso8601"},
			http.Header{"X-Ratelimit-Remaining": {"5"}, "X-Ratelimit-Reset": {"2027-01-15T08:00:10Z"}}, 5, time.Unix(1_800_000_000, 0).Add(0).Sub(now) + 1, false, 0, 0},
		{"common headers, no dialect", nil,
			http.Header{"Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"7"}, "Retry-After": {"3"}}, 0, 7 * time.Second, true, 3 * time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := integrations.New(rlConfig(tt.rl))
			if err != nil {
				t.Fatal(err)
			}
			o := in.RateLimits().Observe(tt.h, now)
			if o.Remaining != tt.remaining || o.Exhausted != tt.exhausted || o.RetryAfter != tt.retryAfter {
				t.Fatalf("got %+v, want remaining %d exhausted %v retryAfter %v", o, tt.remaining, tt.exhausted, tt.retryAfter)
			}
			if tt.name != "atlassian iso reset" && o.Reset != tt.reset {
				t.Fatalf("got reset %v, want %v", o.Reset, tt.reset)
			}
		})
	}
}

func TestRateLimitsThrottled(t *testing.T) {
	in, err := integrations.New(integrations.Config{Type: "googledrive"})
	if err != nil {
		t.Fatal(err)
	}
	rl := in.RateLimits()
	if th, _ := rl.Throttled(429); !th {
		t.Fatal("429 must mean throttled")
	}
	th, need := rl.Throttled(403)
	if th || !need {
		t.Fatalf("got %v %v, want a 403 to need its body", th, need)
	}
	body := `{"error":{"errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded"}],"code":403}}`
	if !rl.ThrottledBody(403, []byte(body)) {
		t.Fatal("403 userRateLimitExceeded must mean throttled")
	}
	if rl.ThrottledBody(403, []byte(`{"error":{"errors":[{"reason":"insufficientPermissions"}]}}`)) {
		t.Fatal("403 insufficientPermissions must not mean throttled")
	}
}

// Every catalog entry compiles with its dialect, and the entries with static
// limits cite their source and the date checked.
func TestCatalogRateLimits(t *testing.T) {
	for _, c := range integrations.Catalog() {
		in, err := integrations.New(c)
		if err != nil {
			t.Errorf("%s: %v", c.Type, err)
			continue
		}
		if len(in.RateLimits().Limits()) > 0 && !strings.Contains(c.RateLimits.Notes, "checked 2026-12-02") {
			t.Errorf("%s: static limits without a dated source in notes", c.Type)
		}
	}
}
