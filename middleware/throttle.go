package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patrickmn/go-cache"
	"golang.org/x/time/rate"

	"github.com/onbehalf/onbehalf/response"
)

// ThrottleConfig turns on proactive, per-connection throttling: the
// provider's own rate-limit headers (remaining and reset) and 429 answers
// feed a token bucket per connection, so a connection that has used its
// allowance waits for the reset — or fails fast with 429 RATE_LIMITED and
// Retry-After — instead of burning calls the provider will refuse. The zero
// value throttles nothing.
type ThrottleConfig struct {
	// Enabled turns throttling on for the integration.
	Enabled bool `json:"enabled,omitempty"`
	// FailFast answers 429 at once instead of waiting.
	FailFast bool `json:"failFast,omitempty"`
	// MaxWaitMs caps how long a request waits for its connection's
	// allowance; a longer wait fails fast. Zero means 10 s.
	MaxWaitMs int `json:"maxWaitMs,omitempty"`
	// RequestsPerSecond and Burst set a static rate per connection besides
	// what the headers say; zero means headers only.
	RequestsPerSecond float64 `json:"requestsPerSecond,omitempty"`
	Burst             int     `json:"burst,omitempty"`
}

func (tc ThrottleConfig) validate() error {
	if tc.MaxWaitMs < 0 || tc.RequestsPerSecond < 0 || tc.Burst < 0 {
		return errors.New("throttle: values must not be negative")
	}
	return nil
}

func (tc ThrottleConfig) maxWait() time.Duration {
	if tc.MaxWaitMs == 0 {
		return 10 * time.Second
	}
	return time.Duration(tc.MaxWaitMs) * time.Millisecond
}

// connLimit is one connection's bucket.
type connLimit struct {
	mu      sync.Mutex
	limiter *rate.Limiter // nil until a rate is known
	blocked time.Time     // no request before this instant
}

// throttleTransport applies ThrottleConfig per connection.
type throttleTransport struct {
	next   http.RoundTripper
	now    func() time.Time
	limits *cache.Cache // connection key → *connLimit; idle entries expire
}

func newThrottleTransport(next http.RoundTripper, now func() time.Time) *throttleTransport {
	return &throttleTransport{next: next, now: now, limits: cache.New(30*time.Minute, 10*time.Minute)}
}

func (t *throttleTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	in, _ := IntegrationFromContext(ctx)
	c, _ := ConnectionFromContext(ctx)
	if in == nil || c == nil || !in.cfg.Throttle.Enabled {
		return t.next.RoundTrip(req)
	}
	tc := in.cfg.Throttle
	key := c.Key().String()
	cl := t.limitFor(key, tc)
	if err := t.admit(req, cl, tc); err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		t.learn(cl, resp)
	}
	return resp, err
}

func (t *throttleTransport) limitFor(key string, tc ThrottleConfig) *connLimit {
	if v, ok := t.limits.Get(key); ok {
		return v.(*connLimit)
	}
	cl := &connLimit{}
	if tc.RequestsPerSecond > 0 {
		cl.limiter = rate.NewLimiter(rate.Limit(tc.RequestsPerSecond), max(tc.Burst, 1))
	}
	if err := t.limits.Add(key, cl, cache.DefaultExpiration); err != nil {
		if v, ok := t.limits.Get(key); ok { // another request added it first
			return v.(*connLimit)
		}
	}
	return cl
}

// admit waits for the connection's allowance, or fails with 429.
func (t *throttleTransport) admit(req *http.Request, cl *connLimit, tc ThrottleConfig) error {
	ctx := req.Context()
	now := t.now()
	cl.mu.Lock()
	blocked, lim := cl.blocked, cl.limiter
	var res *rate.Reservation
	if lim != nil {
		res = lim.ReserveN(now, 1)
	}
	cl.mu.Unlock()
	wait := max(blocked.Sub(now), 0)
	if res != nil {
		if !res.OK() {
			return rateLimited(tc.maxWait())
		}
		wait = max(wait, res.DelayFrom(now))
	}
	if wait == 0 {
		return nil
	}
	tooLong := wait > tc.maxWait()
	if dl, ok := ctx.Deadline(); ok && now.Add(wait).After(dl) {
		tooLong = true
	}
	if tc.FailFast || tooLong {
		if res != nil {
			res.CancelAt(now)
		}
		return rateLimited(wait)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		if res != nil {
			res.Cancel()
		}
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func rateLimited(wait time.Duration) error {
	secs := int((wait + time.Second - 1) / time.Second)
	e := response.New(http.StatusTooManyRequests, response.CodeRateLimited,
		fmt.Sprintf("This connection has used its rate limit at the provider; retry in %d s.", secs))
	e.Meta = map[string]any{"retryAfterSeconds": secs}
	e.RetryAfter = time.Duration(secs) * time.Second
	return e
}

// learn feeds the bucket from the provider's answer: remaining and reset
// headers set the rate for the rest of the window; none remaining, or a 429,
// blocks the connection until the reset (or Retry-After).
func (t *throttleTransport) learn(cl *connLimit, resp *http.Response) {
	now := t.now()
	h := resp.Header
	reset, hasReset := rateLimitReset(h, now)
	remaining, hasRemaining := headerInt(h, "RateLimit-Remaining", "X-RateLimit-Remaining", "X-Rate-Limit-Remaining")
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if resp.StatusCode == http.StatusTooManyRequests {
		d, ok := retryAfter(h, now)
		if !ok && hasReset {
			d, ok = reset, true
		}
		if !ok {
			d = time.Second
		}
		cl.blocked = now.Add(d)
		return
	}
	if !hasRemaining || !hasReset {
		return
	}
	if remaining <= 0 {
		cl.blocked = now.Add(reset)
		return
	}
	// Spread what is left over the rest of the window.
	r := rate.Limit(float64(remaining) / max(reset.Seconds(), 1))
	burst := max(1, min(remaining, 10))
	if cl.limiter == nil {
		cl.limiter = rate.NewLimiter(r, burst)
		return
	}
	cl.limiter.SetLimitAt(now, r)
	cl.limiter.SetBurstAt(now, burst)
}

func headerInt(h http.Header, keys ...string) (int, bool) {
	for _, k := range keys {
		if v := strings.TrimSpace(h.Get(k)); v != "" {
			if n, err := strconv.Atoi(v); err == nil {
				return n, true
			}
		}
	}
	return 0, false
}
