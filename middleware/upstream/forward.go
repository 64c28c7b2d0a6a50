package upstream

import (
	"context"
	"errors"
	"log"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// Config configures the Forwarder. Zero values are safe defaults.
type Config struct {
	// Transport holds the upstream connection settings (timeouts, pool sizes,
	// TLS roots). Each integration's AllowAddresses are added to its dial
	// guard; integrations with the same ranges share one transport. When
	// Timeout bounds every request, a zero ResponseHeaderTimeout means none:
	// the request's deadline bounds the wait for headers too (a separate
	// shorter bound would cut off slow report endpoints the deadline allows,
	// and cost a timer per request).
	Transport hosts.TransportConfig
	// RoundTripper, when set, replaces the built transports for every
	// integration (custom stacks, instrumentation). It must then do its own
	// dial-time address checks; hosts.NewTransport builds one that does.
	RoundTripper http.RoundTripper
	// Refresher refreshes an OAuth2 credential once when the provider answers
	// 401 to a token that looked valid, and the request is replayed once.
	// Nil means no refresh-on-401.
	Refresher *tokens.Refresher
	// Usage, when not nil, is told of each connection whose request got an
	// answer below 400 (the provider took the credential), in memory: it
	// writes Connection.LastUsed at most once per connection per interval.
	// Nil means last use is not recorded.
	Usage *tokens.UseTracker
	// Timeout is the overall deadline of one proxied request, body included.
	// Zero means 2 minutes; negative means none.
	Timeout time.Duration
	// MaxRequestBytes caps request bodies (413 REQUEST_TOO_LARGE beyond).
	// Zero means 128 MiB; negative means no cap.
	MaxRequestBytes int64
	// ReplayBytes is the largest request body kept in memory so the request
	// can be replayed after a refresh-on-401; larger bodies stream and are not
	// replayed. Zero means 64 KiB; negative means bodies are never kept.
	ReplayBytes int64
	// MaxConcurrent bounds the proxied requests in flight at once (their
	// bodies included); one more answers 503 UPSTREAM_BUSY with Retry-After
	// at once. Zero means DefaultMaxConcurrent; negative means no bound.
	// (Connections per provider host are bounded by Transport.MaxConnsPerHost.)
	MaxConcurrent int
	// Response configures the response modes.
	Response response.Config
	// Limits configures the limits stage: the integrations' rate limits
	// (scoped, shared when Limits.Limiter is) and per-user quotas. The zero
	// value enforces the catalog's limits in process (see LimitsConfig).
	Limits LimitsConfig
	// ErrorLog receives the reverse proxy's own diagnostics (never secrets).
	// Nil means the log package's standard logger.
	ErrorLog *log.Logger
}

// DefaultMaxConcurrent is Config.MaxConcurrent's default: enough for a busy
// replica, small enough that a flood of slow upstream calls meets a clear
// 503 before it exhausts memory and file descriptors.
const DefaultMaxConcurrent = 4096

// Forwarder is stage 5 and 6: the upstream round trip through
// httputil.ReverseProxy with Rewrite, the credential applied on the outbound
// copy only, refresh-once-and-replay on 401, and the response mode applied on
// the way back. It is the terminal handler of the chain.
type Forwarder struct {
	cfg       Config
	proxy     *httputil.ReverseProxy
	responder *response.Responder
	guarded   *guardedTransport
	busy      *semaphore.Weighted // nil: no bound
}

var _ http.Handler = (*Forwarder)(nil)

// New validates cfg and builds the proxy.
func New(cfg Config) (*Forwarder, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = 128 << 20
	}
	if cfg.ReplayBytes == 0 {
		cfg.ReplayBytes = 64 << 10
	}
	rs, err := response.NewResponder(cfg.Response)
	if err != nil {
		return nil, err
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.Timeout > 0 && cfg.Transport.ResponseHeaderTimeout == 0 {
		cfg.Transport.ResponseHeaderTimeout = -1
	}
	f := &Forwarder{cfg: cfg, responder: rs,
		guarded: &guardedTransport{custom: cfg.RoundTripper, base: cfg.Transport}}
	if cfg.MaxConcurrent > 0 {
		f.busy = semaphore.NewWeighted(int64(cfg.MaxConcurrent))
	}
	if cfg.RoundTripper == nil {
		// Build the default transport now, so that bad settings fail here.
		if _, err := f.guarded.transportFor(nil); err != nil {
			return nil, err
		}
	}
	// The upstream chain, outermost first. Each RoundTripper reads the
	// request's State and passes the request down:
	//
	//	limits      permits of the integration's limits and the user's quota
	//	            (wait, or 429 and nothing sent); blocks from the answers
	//	credential  on a 401 to an OAuth2 token: refresh once, replay once;
	//	            follow redirects (the credential stays with its origin)
	//	retry       resend on retryable statuses and refused connections
	//	throttle    wait for (or refuse past) the connection's allowance
	//	guarded     the integration's transport: dial-time address checks
	//
	// The credential itself is applied in Rewrite, on the outbound copy,
	// after the client's headers were filtered.
	chain, err := newLimitsTransport(cfg.Limits, &credentialTransport{refresher: cfg.Refresher, usage: cfg.Usage,
		next: &retryTransport{now: time.Now,
			next: newThrottleTransport(f.guarded, time.Now)}})
	if err != nil {
		return nil, err
	}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:        f.rewrite,
		Transport:      chain,
		ModifyResponse: f.modify,
		ErrorHandler:   f.errorHandler,
		BufferPool:     copyBuffers,
		ErrorLog:       cfg.ErrorLog,
	}
	return f, nil
}

// ServeHTTP forwards the request. It needs a Target, an Integration and a
// Connection in the context (see Guard and Injector).
func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st := StateFrom(ctx)
	if st == nil || st.Target == nil || st.Integration == nil || st.Connection == nil {
		Fail(w, errors.New("upstream: forwarder mounted without guard, resolver and injector"))
		return
	}
	if f.cfg.MaxRequestBytes > 0 {
		if r.ContentLength > f.cfg.MaxRequestBytes {
			Fail(w, response.New(http.StatusRequestEntityTooLarge, response.CodeRequestTooLarge, "The request body is larger than the configured limit."))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, f.cfg.MaxRequestBytes)
		}
	}
	if f.busy != nil {
		if !f.busy.TryAcquire(1) {
			e := response.New(http.StatusServiceUnavailable, response.CodeUpstreamBusy, "Too many proxied requests in flight; retry shortly.")
			e.RetryAfter = time.Second
			Fail(w, e)
			return
		}
		defer f.busy.Release(1)
	}
	attempts, timeout, err := f.requestOptions(r.Header, st.Integration)
	if err != nil {
		Fail(w, err)
		return
	}
	st.attempts = attempts
	if timeout > 0 && !st.DeadlineSet {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	f.proxy.ServeHTTP(w, r)
}

// requestOptions reads the per-request headers: RetryHeader (attempts, up to
// 10) and TimeoutHeader (shortens the configured deadline).
func (f *Forwarder) requestOptions(h http.Header, in *integrations.Integration) (attempts int, timeout time.Duration, err error) {
	attempts = in.Retry().MaxAttempts
	if v := headerValue(h, RetryHeader); v != "" {
		n, perr := strconv.Atoi(strings.TrimSpace(v))
		if perr != nil || n < 0 || n > integrations.MaxRetryAttempts {
			return 0, 0, response.New(http.StatusBadRequest, response.CodeBadRequest, RetryHeader+" must be a whole number from 0 to 10.")
		}
		attempts = n
	}
	if timeout, err = f.Timeout(h); err != nil {
		return 0, 0, err
	}
	return attempts, timeout, nil
}

// Timeout is the request's deadline for h: the configured Timeout, shortened by
// TimeoutHeader; zero or less means none.
func (f *Forwarder) Timeout(h http.Header) (time.Duration, error) {
	timeout := f.cfg.Timeout
	if v := headerValue(h, TimeoutHeader); v != "" {
		ms, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || ms <= 0 {
			return 0, response.New(http.StatusBadRequest, response.CodeBadRequest, TimeoutHeader+" must be a positive number of milliseconds.")
		}
		if d := time.Duration(ms) * time.Millisecond; timeout <= 0 || d < timeout {
			timeout = d
		}
	}
	return timeout, nil
}

// headerValue is h.Get(key) for a key already in canonical form, without
// canonicalizing it again on every request.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (f *Forwarder) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away; nobody reads an answer.
		w.WriteHeader(499)
		return
	}
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		err = response.Wrap(err, http.StatusRequestEntityTooLarge, response.CodeRequestTooLarge, "The request body is larger than the configured limit.")
	}
	Fail(w, err)
}

// modify applies the response mode, redacting the secrets the request sent
// from everything the caller receives.
func (f *Forwarder) modify(resp *http.Response) error {
	var red *response.Redactor
	if resp.Request != nil {
		red = StateFrom(resp.Request.Context()).Redactor()
	}
	return f.responder.ModifyRedacted(resp, red)
}

// CloseIdleConnections closes idle upstream connections of every transport.
func (f *Forwarder) CloseIdleConnections() { f.guarded.closeIdle() }

// Client returns an HTTP client for requests of in's own making (a
// verification request) over the transport proxied calls use: the dial-time
// address checks of in's AllowAddresses, the Forwarder's Timeout, and no
// redirect followed (a 3xx is the answer).
func (f *Forwarder) Client(in *integrations.Integration) (*http.Client, error) {
	rt, err := f.guarded.transportFor(in)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if f.cfg.Timeout > 0 {
		c.Timeout = f.cfg.Timeout
	}
	return c, nil
}
