package upstream

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// fakeRT answers from a list of replies, one per call, and counts calls.
type fakeRT struct {
	calls   atomic.Int64
	replies []func(*http.Request) (*http.Response, error)
	bodies  []string
}

func (f *fakeRT) RoundTrip(req *http.Request) (*http.Response, error) {
	n := int(f.calls.Add(1)) - 1
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		f.bodies = append(f.bodies, string(b))
	}
	return f.replies[min(n, len(f.replies)-1)](req)
}

func status(code int, header ...string) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		h := http.Header{}
		for i := 0; i+1 < len(header); i += 2 {
			h.Set(header[i], header[i+1])
		}
		return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
	}
}

func failWith(err error) func(*http.Request) (*http.Response, error) {
	return func(*http.Request) (*http.Response, error) { return nil, err }
}

func retryCtx(t *testing.T, rc integrations.RetryConfig, attempts int) context.Context {
	t.Helper()
	in, err := integrations.New(integrations.Config{Type: "api", BaseURL: "https://api.example.com", Retry: rc})
	if err != nil {
		t.Fatal(err)
	}
	return WithState(context.Background(), &State{Integration: in, attempts: attempts,
		Connection: &tokens.Connection{Project: "p", User: "u", Integration: "api", ID: "c"}})
}

func TestRetryTransport(t *testing.T) {
	fast := integrations.RetryConfig{MaxAttempts: 3, BaseDelayMs: 1, MaxDelayMs: 2000}
	refused := &fakeOpError{syscall.ECONNREFUSED}
	cases := []struct {
		name      string
		method    string
		header    http.Header
		body      string
		attempts  int
		replies   []func(*http.Request) (*http.Response, error)
		wantCalls int64
		wantCode  int
	}{
		{"503 then 200: one retry", "GET", nil, "", 3, []func(*http.Request) (*http.Response, error){status(503), status(200)}, 2, 200},
		{"429 with Retry-After in seconds", "GET", nil, "", 3, []func(*http.Request) (*http.Response, error){status(429, "Retry-After", "0"), status(200)}, 2, 200},
		{"429 with Retry-After as a date", "DELETE", nil, "", 3, []func(*http.Request) (*http.Response, error){status(429, "Retry-After", time.Now().Add(-time.Second).UTC().Format(http.TimeFormat)), status(204)}, 2, 204},
		{"gives up after MaxAttempts", "GET", nil, "", 3, []func(*http.Request) (*http.Response, error){status(503)}, 3, 503},
		{"404 is not retried", "GET", nil, "", 3, []func(*http.Request) (*http.Response, error){status(404)}, 1, 404},
		{"POST without Idempotency-Key is not replayed", "POST", nil, `{"a":1}`, 3, []func(*http.Request) (*http.Response, error){status(503), status(200)}, 1, 503},
		{"POST with Idempotency-Key is replayed with its body", "POST", http.Header{"Idempotency-Key": {"k1"}}, `{"a":1}`, 3, []func(*http.Request) (*http.Response, error){status(503), status(201)}, 2, 201},
		{"PATCH without a key is not replayed", "PATCH", nil, `{}`, 3, []func(*http.Request) (*http.Response, error){status(502), status(200)}, 1, 502},
		{"a wait longer than MaxDelay is not made", "GET", nil, "", 3, []func(*http.Request) (*http.Response, error){status(429, "Retry-After", "60"), status(200)}, 1, 429},
		{"refused connection is retried", "PUT", nil, "x", 3, []func(*http.Request) (*http.Response, error){failWith(refused), status(200)}, 2, 200},
		{"one attempt means no retry", "GET", nil, "", 1, []func(*http.Request) (*http.Response, error){status(503), status(200)}, 1, 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRT{replies: tc.replies}
			rt := &retryTransport{next: f, now: time.Now}
			req, _ := http.NewRequestWithContext(retryCtx(t, fast, tc.attempts), tc.method, "https://api.example.com/x", nil)
			if tc.body != "" {
				req, _ = http.NewRequestWithContext(retryCtx(t, fast, tc.attempts), tc.method, "https://api.example.com/x", strings.NewReader(tc.body))
			}
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantCode || f.calls.Load() != tc.wantCalls {
				t.Fatalf("got %d after %d calls, want %d after %d", resp.StatusCode, f.calls.Load(), tc.wantCode, tc.wantCalls)
			}
			for _, b := range f.bodies {
				if b != tc.body {
					t.Fatalf("a replay sent body %q, want %q", b, tc.body)
				}
			}
		})
	}
}

// The request's deadline bounds the waits: a Retry-After beyond it returns
// the provider's answer at once.
func TestRetryRespectsDeadline(t *testing.T) {
	f := &fakeRT{replies: []func(*http.Request) (*http.Response, error){status(503, "Retry-After", "5"), status(200)}}
	rt := &retryTransport{next: f, now: time.Now}
	ctx, cancel := context.WithTimeout(retryCtx(t, integrations.RetryConfig{MaxAttempts: 3, MaxDelayMs: 60000}, 3), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.example.com/x", nil)
	start := time.Now()
	resp, err := rt.RoundTrip(req)
	if err != nil || resp.StatusCode != 503 || f.calls.Load() != 1 || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("got %v %v after %d calls in %v", resp, err, f.calls.Load(), time.Since(start))
	}
}

func TestRetryWaitLongestWins(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	rc := integrations.RetryConfig{BaseDelayMs: 1, MaxDelayMs: 120000}
	resp := &http.Response{StatusCode: 429, Header: http.Header{
		"Retry-After":       {"2"},
		"X-Ratelimit-Reset": {"1800000007"}, // a Unix time 7 s ahead
	}}
	got, ok := retryWait(context.Background(), rc, resp, 1, now)
	if !ok || got != 7*time.Second {
		t.Fatalf("wait %v %v, want 7s", got, ok)
	}
	resp.Header = http.Header{"Ratelimit-Reset": {"3"}, "Retry-After": {"1"}}
	if got, _ := retryWait(context.Background(), rc, resp, 1, now); got != 3*time.Second {
		t.Fatalf("wait %v, want 3s", got)
	}
}

// fakeOpError is a minimal stand-in for *net.OpError wrapping an errno.
type fakeOpError struct{ err error }

func (e *fakeOpError) Error() string { return "dial tcp: " + e.err.Error() }
func (e *fakeOpError) Unwrap() error { return e.err }
