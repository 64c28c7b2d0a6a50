package upstream

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
)

// RetryHeader asks for a number of attempts for one request ("3"; "0" or
// "1" for none), overriding the integration's policy up to 10. It is never
// forwarded.
const RetryHeader = "X-Onbehalf-Retry"

// TimeoutHeader shortens the configured deadline for one request, in
// milliseconds ("2500"). It can only shorten, never extend. It is never
// forwarded.
const TimeoutHeader = "X-Onbehalf-Timeout-Ms"

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
func retryWait(ctx context.Context, rc integrations.RetryConfig, resp *http.Response, n int, now time.Time) (time.Duration, bool) {
	backoff := rc.BaseDelay() << min(n-1, 16)
	if backoff > rc.MaxDelay() {
		backoff = rc.MaxDelay()
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
	if wait > rc.MaxDelay() {
		return 0, false
	}
	if dl, ok := ctx.Deadline(); ok && now.Add(wait).After(dl) {
		return 0, false
	}
	return wait, true
}

// retryAfter parses Retry-After in seconds or as an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	return integrations.ParseRetryAfter(h.Get("Retry-After"), now)
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

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	s := StateFrom(ctx)
	if s == nil || s.attempts <= 1 || !idempotent(req) || !replayable(req) {
		return t.next.RoundTrip(req)
	}
	rc := s.Integration.Retry()
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
		retry := n < s.attempts && ((err == nil && rc.Retries(resp.StatusCode)) || (err != nil && retryableError(err)))
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
		s.Retries++
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
