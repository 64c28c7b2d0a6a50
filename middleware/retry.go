package middleware

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RetryConfig is an integration's retry policy. Retries are opt-in: the zero
// value retries nothing. A request can also ask for retries (or none) with
// the RetryHeader.
type RetryConfig struct {
	// MaxAttempts counts every attempt, the first included; 0 or 1 means no
	// retry. At most 10.
	MaxAttempts int `json:"maxAttempts,omitempty"`
	// BaseDelayMs is the first backoff; each retry doubles it, with full
	// jitter. Zero means 200 ms.
	BaseDelayMs int `json:"baseDelayMs,omitempty"`
	// MaxDelayMs caps one wait (Retry-After and rate-limit resets included).
	// Zero means 30 s.
	MaxDelayMs int `json:"maxDelayMs,omitempty"`
	// Statuses are the upstream statuses that are retried; nil means 429,
	// 502, 503 and 504.
	Statuses []int `json:"statuses,omitempty"`
}

// RetryHeader asks for a number of attempts for one request ("3"; "0" or
// "1" for none), overriding the integration's policy up to 10. It is never
// forwarded.
const RetryHeader = "X-Onbehalf-Retry"

// TimeoutHeader shortens the configured deadline for one request, in
// milliseconds ("2500"). It can only shorten, never extend. It is never
// forwarded.
const TimeoutHeader = "X-Onbehalf-Timeout-Ms"

const maxAttemptsCap = 10

func (rc RetryConfig) validate() error {
	if rc.MaxAttempts < 0 || rc.MaxAttempts > maxAttemptsCap || rc.BaseDelayMs < 0 || rc.MaxDelayMs < 0 {
		return errors.New("retry: maxAttempts must be 0..10 and delays must not be negative")
	}
	for _, s := range rc.Statuses {
		if s < 400 || s > 599 {
			return errors.New("retry: statuses must be 4xx or 5xx")
		}
	}
	return nil
}

func (rc RetryConfig) retries(status int) bool {
	if rc.Statuses == nil {
		return status == 429 || status == 502 || status == 503 || status == 504
	}
	for _, s := range rc.Statuses {
		if s == status {
			return true
		}
	}
	return false
}

func (rc RetryConfig) base() time.Duration {
	if rc.BaseDelayMs == 0 {
		return 200 * time.Millisecond
	}
	return time.Duration(rc.BaseDelayMs) * time.Millisecond
}

func (rc RetryConfig) maxDelay() time.Duration {
	if rc.MaxDelayMs == 0 {
		return 30 * time.Second
	}
	return time.Duration(rc.MaxDelayMs) * time.Millisecond
}

// idempotent reports whether a request may be sent again: GET, HEAD,
// OPTIONS, PUT and DELETE, and POST or PATCH that carry an Idempotency-Key.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	case http.MethodPost, http.MethodPatch:
		return req.Header.Get("Idempotency-Key") != ""
	}
	return false
}

// retryWait is how long to wait before attempt n (1 for the first retry):
// the longest of the jittered backoff, Retry-After and the provider's
// rate-limit reset, capped by maxDelay. ok is false when the wait would
// outlast the request's deadline.
func retryWait(ctx context.Context, rc RetryConfig, resp *http.Response, n int, now time.Time) (time.Duration, bool) {
	backoff := rc.base() << min(n-1, 16)
	if backoff > rc.maxDelay() {
		backoff = rc.maxDelay()
	}
	wait := time.Duration(rand.Int64N(int64(backoff) + 1)) // full jitter
	if resp != nil {
		if d, ok := retryAfter(resp.Header, now); ok && d > wait {
			wait = d
		}
		if d, ok := rateLimitReset(resp.Header, now); ok && d > wait && resp.StatusCode == http.StatusTooManyRequests {
			wait = d
		}
	}
	if wait > rc.maxDelay() {
		return 0, false
	}
	if dl, ok := ctx.Deadline(); ok && now.Add(wait).After(dl) {
		return 0, false
	}
	return wait, true
}

// retryAfter parses Retry-After in seconds or as an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
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

// rateLimitReset reads the common reset headers: RateLimit-Reset (seconds,
// IETF draft), X-RateLimit-Reset and X-Rate-Limit-Reset (seconds, or a Unix
// time when larger than a year of seconds).
func rateLimitReset(h http.Header, now time.Time) (time.Duration, bool) {
	for _, k := range []string{"RateLimit-Reset", "X-RateLimit-Reset", "X-Rate-Limit-Reset", "X-RateLimit-Reset-After"} {
		v := strings.TrimSpace(h.Get(k))
		if v == "" {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			continue
		}
		if f > 365*24*3600 { // a Unix time
			return max(time.Unix(int64(f), 0).Sub(now), 0), true
		}
		return time.Duration(f * float64(time.Second)), true
	}
	return 0, false
}

// retryTransport sends a request again when the provider answers a retryable
// status or the connection fails before an answer, as the request's policy
// allows.
type retryTransport struct {
	next http.RoundTripper
	now  func() time.Time
}

// withAttempts stores the number of attempts a request may make.
func withAttempts(ctx context.Context, n int) context.Context {
	ctx, s := ensureState(ctx)
	s.attempts = n
	return ctx
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	s := stateFrom(ctx)
	if s == nil || s.attempts <= 1 || !idempotent(req) || !replayable(req) {
		return t.next.RoundTrip(req)
	}
	in, _ := IntegrationFromContext(ctx)
	rc := RetryConfig{}
	if in != nil {
		rc = in.cfg.Retry
	}
	for n := 1; ; n++ {
		attempt := req
		if n > 1 {
			attempt = req.Clone(ctx)
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				attempt.Body = body
			}
		}
		resp, err := t.next.RoundTrip(attempt)
		retry := n < s.attempts && ((err == nil && rc.retries(resp.StatusCode)) || (err != nil && retryableError(err)))
		if !retry {
			return resp, err
		}
		wait, ok := retryWait(ctx, rc, resp, n, t.now())
		if !ok {
			return resp, err
		}
		if resp != nil {
			drain(resp)
		}
		s.retries++
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// retryableError reports whether a transport error happened before the
// provider could act on the request: refused or reset connections. Timeouts
// are not retried (the provider may have acted), nor are guard refusals.
func retryableError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
