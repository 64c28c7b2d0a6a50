package integrations

import (
	"errors"
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

// MaxRetryAttempts is the most attempts a retry policy (or a request) may ask for.
const MaxRetryAttempts = 10

func (rc RetryConfig) validate() error {
	if rc.MaxAttempts < 0 || rc.MaxAttempts > MaxRetryAttempts || rc.BaseDelayMs < 0 || rc.MaxDelayMs < 0 {
		return errors.New("retry: maxAttempts must be 0..10 and delays must not be negative")
	}
	for _, s := range rc.Statuses {
		if s < 400 || s > 599 {
			return errors.New("retry: statuses must be 4xx or 5xx")
		}
	}
	return nil
}

// Retries reports whether the policy retries an upstream status.
func (rc RetryConfig) Retries(status int) bool {
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

// BaseDelay is the first backoff (BaseDelayMs, 200 ms when zero).
func (rc RetryConfig) BaseDelay() time.Duration {
	if rc.BaseDelayMs == 0 {
		return 200 * time.Millisecond
	}
	return time.Duration(rc.BaseDelayMs) * time.Millisecond
}

// MaxDelay caps one wait (MaxDelayMs, 30 s when zero).
func (rc RetryConfig) MaxDelay() time.Duration {
	if rc.MaxDelayMs == 0 {
		return 30 * time.Second
	}
	return time.Duration(rc.MaxDelayMs) * time.Millisecond
}

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

// MaxWait caps the wait for a connection's allowance (MaxWaitMs, 10 s when zero).
func (tc ThrottleConfig) MaxWait() time.Duration {
	if tc.MaxWaitMs == 0 {
		return 10 * time.Second
	}
	return time.Duration(tc.MaxWaitMs) * time.Millisecond
}
