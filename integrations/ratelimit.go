package integrations

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RateLimitInfo is a provider's rate-limit dialect, as its documentation
// gives it: the static limits and their scope, which answers mean
// "throttled", and which headers report the budget. The upstream chain's
// limits stage acts on it by default. The header fields name response
// headers the provider sends (the proxy passes them through to the caller in
// both response modes); "" means the provider documents no such header.
type RateLimitInfo struct {
	// Docs is the provider's page on rate limits.
	Docs string `json:"docs,omitempty"`
	// Notes summarizes the limits: their unit, scope and what an excess
	// answers (status, error code), and where and when the figures in Limits
	// were checked.
	Notes string `json:"notes,omitempty"`
	// LimitHeader carries the size of the current budget.
	LimitHeader string `json:"limitHeader,omitempty"`
	// RemainingHeader carries what is left of the current budget; 0 blocks
	// the scope until the reset.
	RemainingHeader string `json:"remainingHeader,omitempty"`
	// ResetHeader carries when the budget refills, in ResetFormat.
	ResetHeader string `json:"resetHeader,omitempty"`
	// ResetFormat is how ResetHeader is written: "seconds" (from now),
	// "unix" (epoch seconds), "unix-ms", "ms" (milliseconds from now),
	// "iso8601" (RFC 3339 time) or "http-date". "" means seconds from now,
	// or epoch seconds when the number is larger than a year of seconds.
	ResetFormat string `json:"resetFormat,omitempty"`
	// UsageHeader carries the budget as "used/limit" (Shopify's
	// X-Shopify-Shop-Api-Call-Limit: 32/40) or, with UsageKey, as one
	// "key=used/limit" item of a comma-separated list (Salesforce's
	// Sforce-Limit-Info: api-usage=25/15000). Used reaching limit blocks the
	// scope. "" means none.
	UsageHeader string `json:"usageHeader,omitempty"`
	UsageKey    string `json:"usageKey,omitempty"`
	// RetryAfter reports that a rate-limited answer carries Retry-After.
	// Retry-After is honoured on a throttled answer whatever this says.
	RetryAfter bool `json:"retryAfter,omitempty"`
	// Throttled lists the answers that mean "throttled" besides 429, such as
	// Google's 403 rateLimitExceeded or Salesforce's 403
	// REQUEST_LIMIT_EXCEEDED. A 429 always means throttled.
	Throttled []ThrottledAnswer `json:"throttled,omitempty"`
	// BlockMs is how long a throttled answer that says nothing of when to
	// come back (no Retry-After, no reset) blocks its scope. Zero means 1 s.
	BlockMs int `json:"blockMs,omitempty"`
	// Scope and Field are the scope the headers and throttled answers report
	// on (see StaticLimit). "" means ScopeConnection.
	Scope Scope  `json:"scope,omitempty"`
	Field string `json:"field,omitempty"`
	// Limits are the documented static limits, each enforced before a
	// request is sent. Nil means headers only.
	Limits []StaticLimit `json:"limits,omitempty"`
}

// ThrottledAnswer is one answer that means "throttled": a status and,
// optionally, a text its body contains (compared case-insensitively in the
// first 8 KiB).
type ThrottledAnswer struct {
	Status       int    `json:"status"`
	BodyContains string `json:"bodyContains,omitempty"`
}

// Scope is what a limit counts: the provider's unit of accounting.
type Scope string

// The scopes.
const (
	// ScopeConnection counts per connection (one user's grant or key).
	ScopeConnection Scope = "connection"
	// ScopeAccount counts per provider account, named by a connection field
	// (a Salesforce org's instance_url, a QuickBooks realm_id, a Xero
	// tenant_id, a Shopify shop): every connection to the account shares it.
	ScopeAccount Scope = "account"
	// ScopeIntegration counts per integration: the app, across all accounts.
	ScopeIntegration Scope = "integration"
)

// StaticLimit is one documented limit: Requests per PeriodMs, in Scope.
type StaticLimit struct {
	// Scope is what the limit counts; "" means ScopeConnection.
	Scope Scope `json:"scope,omitempty"`
	// Field names the connection field that identifies the account, for
	// ScopeAccount (required there). A connection without the field is
	// counted alone.
	Field string `json:"field,omitempty"`
	// Requests per PeriodMs milliseconds; both required.
	Requests int `json:"requests"`
	PeriodMs int `json:"periodMs"`
	// Burst is how many requests may go at once; zero means 1 (evenly
	// spaced: never more than Requests in any window of PeriodMs).
	Burst int `json:"burst,omitempty"`
}

// Rate is the limit's sustained rate in requests per second.
func (l StaticLimit) Rate() float64 {
	return float64(l.Requests) / (float64(l.PeriodMs) / 1000)
}

// BurstSize is Burst, 1 when zero.
func (l StaticLimit) BurstSize() int { return max(l.Burst, 1) }

func (s Scope) valid() bool {
	return s == "" || s == ScopeConnection || s == ScopeAccount || s == ScopeIntegration
}

func (r *RateLimitInfo) clone() *RateLimitInfo {
	if r == nil {
		return nil
	}
	c := *r
	c.Throttled = slices.Clone(r.Throttled)
	c.Limits = slices.Clone(r.Limits)
	return &c
}

var resetFormats = []string{"", "seconds", "unix", "unix-ms", "ms", "iso8601", "http-date"}

func (r *RateLimitInfo) validate() error {
	if r == nil {
		return nil
	}
	if !slices.Contains(resetFormats, r.ResetFormat) {
		return fmt.Errorf("rateLimits: resetFormat %q is not one of seconds, unix, unix-ms, ms, iso8601, http-date", r.ResetFormat)
	}
	if r.UsageKey != "" && r.UsageHeader == "" {
		return errors.New("rateLimits: usageKey needs usageHeader")
	}
	if r.BlockMs < 0 {
		return errors.New("rateLimits: blockMs must not be negative")
	}
	if err := checkScope("rateLimits", r.Scope, r.Field); err != nil {
		return err
	}
	for i, t := range r.Throttled {
		if t.Status < 400 || t.Status > 599 {
			return fmt.Errorf("rateLimits: throttled[%d]: status %d is not 4xx or 5xx", i, t.Status)
		}
	}
	for i, l := range r.Limits {
		where := fmt.Sprintf("rateLimits: limits[%d]", i)
		if err := checkScope(where, l.Scope, l.Field); err != nil {
			return err
		}
		if l.Requests <= 0 || l.PeriodMs <= 0 {
			return fmt.Errorf("%s: requests and periodMs must be positive", where)
		}
		if l.Burst < 0 {
			return fmt.Errorf("%s: burst must not be negative", where)
		}
	}
	return nil
}

func checkScope(where string, s Scope, field string) error {
	switch {
	case !s.valid():
		return fmt.Errorf("%s: scope %q is not connection, account or integration", where, s)
	case s == ScopeAccount && field == "":
		return fmt.Errorf("%s: scope account needs the connection field that names the account", where)
	case s != ScopeAccount && field != "":
		return fmt.Errorf("%s: field is only for scope account", where)
	}
	return nil
}

// RateLimits is the compiled dialect. Its methods read a provider's answer;
// it is immutable and safe for concurrent use.
type RateLimits struct {
	info      RateLimitInfo
	remaining string // canonical header names; "" when none
	reset     string
	usage     string
	throttled []ThrottledAnswer // body texts lower-cased
}

func (in *Integration) compileRateLimits() error {
	ri := in.cfg.RateLimits
	if err := ri.validate(); err != nil {
		return err
	}
	rl := &RateLimits{}
	if ri != nil {
		rl.info = *ri.clone()
		rl.remaining = canonical(ri.RemainingHeader)
		rl.reset = canonical(ri.ResetHeader)
		rl.usage = canonical(ri.UsageHeader)
		for _, t := range ri.Throttled {
			t.BodyContains = strings.ToLower(t.BodyContains)
			rl.throttled = append(rl.throttled, t)
		}
	}
	in.rateLimits = rl
	return nil
}

func canonical(h string) string {
	if h == "" {
		return ""
	}
	return http.CanonicalHeaderKey(h)
}

// RateLimits returns the integration's compiled rate-limit dialect; an
// integration without one has an empty dialect (429 means throttled, the
// common headers are read).
func (in *Integration) RateLimits() *RateLimits { return in.rateLimits }

// Limits returns the static limits (a copy).
func (r *RateLimits) Limits() []StaticLimit { return slices.Clone(r.info.Limits) }

// StaticLimits returns the static limits without copying them, for the
// per-request path: the caller must not modify the slice.
func (r *RateLimits) StaticLimits() []StaticLimit { return r.info.Limits }

// Scope is the scope and field the headers and throttled answers report on.
func (r *RateLimits) Scope() (Scope, string) {
	if r.info.Scope == "" {
		return ScopeConnection, ""
	}
	return r.info.Scope, r.info.Field
}

// Block is how long a throttled answer without a reset blocks its scope.
func (r *RateLimits) Block() time.Duration {
	if r.info.BlockMs == 0 {
		return time.Second
	}
	return time.Duration(r.info.BlockMs) * time.Millisecond
}

// MaxPeek is how much of a body ThrottledBody reads.
const MaxPeek = 8 << 10

// Throttled reports whether status means "throttled": true for 429, and
// needBody when the answer is throttled only if its body contains a text
// (then call ThrottledBody with up to MaxPeek bytes of it).
func (r *RateLimits) Throttled(status int) (throttled, needBody bool) {
	if status == http.StatusTooManyRequests {
		return true, false
	}
	for _, t := range r.throttled {
		if t.Status == status {
			if t.BodyContains == "" {
				return true, false
			}
			needBody = true
		}
	}
	return false, needBody
}

// ThrottledBody reports whether an answer of status whose body starts with
// body means "throttled".
func (r *RateLimits) ThrottledBody(status int, body []byte) bool {
	if t, _ := r.Throttled(status); t {
		return true
	}
	lower := bytes.ToLower(body)
	for _, t := range r.throttled {
		if t.Status == status && t.BodyContains != "" && bytes.Contains(lower, []byte(t.BodyContains)) {
			return true
		}
	}
	return false
}

// Observation is what a provider's answer said about its budget.
type Observation struct {
	// Exhausted reports that the budget is used up (remaining 0, or used
	// reaching the limit).
	Exhausted bool
	// Remaining and Limit are the budget left and its size, -1 when unknown.
	Remaining, Limit int
	// Reset is how long until the budget refills; RetryAfter is the
	// provider's Retry-After. Zero when not said.
	Reset, RetryAfter time.Duration
}

// Observe reads the budget headers of an answer: the dialect's own, or else
// the common ones (RateLimit-*, X-RateLimit-*, X-Rate-Limit-*) and
// Retry-After.
func (r *RateLimits) Observe(h http.Header, now time.Time) Observation {
	o := Observation{Remaining: -1, Limit: -1}
	o.RetryAfter, _ = ParseRetryAfter(h.Get("Retry-After"), now)
	if r.remaining != "" {
		o.Remaining = atoi(headerFirst(h, r.remaining))
	} else {
		o.Remaining = atoi(headerFirst(h, "Ratelimit-Remaining", "X-Ratelimit-Remaining", "X-Rate-Limit-Remaining"))
	}
	if r.info.LimitHeader != "" && r.usage == "" {
		o.Limit = atoi(h.Get(r.info.LimitHeader))
	}
	if r.usage != "" {
		used, limit, ok := parseUsage(h.Get(r.usage), r.info.UsageKey)
		if ok {
			o.Remaining, o.Limit = max(limit-used, 0), limit
		}
	}
	if r.reset != "" {
		o.Reset = parseReset(headerFirst(h, r.reset), r.info.ResetFormat, now)
	} else {
		o.Reset = parseReset(headerFirst(h, "Ratelimit-Reset", "X-Ratelimit-Reset", "X-Rate-Limit-Reset"), "", now)
	}
	o.Exhausted = o.Remaining == 0
	return o
}

func headerFirst(h http.Header, keys ...string) string {
	for _, k := range keys {
		if v := h[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
	}
	return ""
}

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// parseUsage reads "used/limit", or the "key=used/limit" item of a
// comma-separated list when key is set.
func parseUsage(v, key string) (used, limit int, ok bool) {
	if key != "" {
		found := false
		for item := range strings.SplitSeq(v, ",") {
			k, val, has := strings.Cut(strings.TrimSpace(item), "=")
			if has && strings.EqualFold(strings.TrimSpace(k), key) {
				v, found = val, true
				break
			}
		}
		if !found {
			return 0, 0, false
		}
	}
	u, l, has := strings.Cut(strings.TrimSpace(v), "/")
	if !has {
		return 0, 0, false
	}
	used, limit = atoi(u), atoi(l)
	return used, limit, used >= 0 && limit > 0
}

// ParseRetryAfter parses a Retry-After value, in seconds or as an HTTP date
// (a date in the past means no wait); false when v is neither.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func parseReset(v, format string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	switch format {
	case "iso8601":
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return 0
		}
		return max(t.Sub(now), 0)
	case "http-date":
		t, err := http.ParseTime(v)
		if err != nil {
			return 0
		}
		return max(t.Sub(now), 0)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0
	}
	switch {
	case format == "unix-ms":
		return max(time.UnixMilli(int64(f)).Sub(now), 0)
	case format == "ms":
		return time.Duration(f * float64(time.Millisecond))
	case format == "unix" || (format == "" && f > 365*24*3600):
		return max(time.Unix(int64(f), 0).Sub(now), 0)
	}
	return time.Duration(f * float64(time.Second))
}
