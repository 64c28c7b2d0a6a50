package upstream

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patrickmn/go-cache"
	"golang.org/x/time/rate"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
)

// connLimit is one connection's bucket.
type connLimit struct {
	mu      sync.Mutex
	limiter *rate.Limiter // nil until a rate is known
	blocked time.Time     // no request before this instant
}

// throttleTransport applies integrations.ThrottleConfig per connection.
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
	s := StateFrom(ctx)
	if s == nil || !s.Integration.Throttle().Enabled {
		return t.next.RoundTrip(req)
	}
	tc := s.Integration.Throttle()
	key := s.Connection.Key().String()
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

func (t *throttleTransport) limitFor(key string, tc integrations.ThrottleConfig) *connLimit {
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
func (t *throttleTransport) admit(req *http.Request, cl *connLimit, tc integrations.ThrottleConfig) error {
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
			return rateLimited(tc.MaxWait())
		}
		wait = max(wait, res.DelayFrom(now))
	}
	if wait == 0 {
		return nil
	}
	tooLong := wait > tc.MaxWait()
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
