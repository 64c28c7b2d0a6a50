package middleware

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// ForwarderConfig configures the Forwarder. Zero values are safe defaults.
type ForwarderConfig struct {
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
	// bodies included); one more answers 503 UPSTREAM_BUSY at once. Zero means
	// no bound. (Per-host connection limits are Transport.MaxConnsPerHost.)
	MaxConcurrent int
	// Response configures the response modes.
	Response response.Config
	// ErrorLog receives the reverse proxy's own diagnostics (never secrets).
	// Nil means the log package's standard logger.
	ErrorLog *log.Logger
}

// Forwarder is stage 5 and 6: the upstream round trip through
// httputil.ReverseProxy with Rewrite, the credential applied on the outbound
// copy only, refresh-once-and-replay on 401, and the response mode applied on
// the way back. It is the terminal handler of the chain.
type Forwarder struct {
	cfg        ForwarderConfig
	proxy      *httputil.ReverseProxy
	responder  *response.Responder
	transports sync.Map // string (allowed ranges) → http.RoundTripper
	base       hosts.TransportConfig

	byIntegration  sync.Map // *Integration → http.RoundTripper, from transports
	byIntegrationN atomic.Int64

	// The upstream chain below the credential: retry → throttle → the
	// integration's guarded transport.
	chain http.RoundTripper
	busy  *semaphore.Weighted // nil: no bound
}

var _ http.Handler = (*Forwarder)(nil)

// NewForwarder validates cfg and builds the proxy.
func NewForwarder(cfg ForwarderConfig) (*Forwarder, error) {
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
	if cfg.MaxConcurrent < 0 {
		return nil, errors.New("middleware: forwarder: MaxConcurrent must not be negative")
	}
	if cfg.Timeout > 0 && cfg.Transport.ResponseHeaderTimeout == 0 {
		cfg.Transport.ResponseHeaderTimeout = -1
	}
	f := &Forwarder{cfg: cfg, responder: rs, base: cfg.Transport}
	if cfg.MaxConcurrent > 0 {
		f.busy = semaphore.NewWeighted(int64(cfg.MaxConcurrent))
	}
	if cfg.RoundTripper == nil {
		// Build the default transport now, so that bad settings fail here.
		if _, err := f.transportFor(nil); err != nil {
			return nil, err
		}
	}
	f.chain = &retryTransport{now: time.Now,
		next: newThrottleTransport(guardedTransport{f}, time.Now)}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:        f.rewrite,
		Transport:      &credentialTransport{f: f},
		ModifyResponse: rs.Modify,
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
	_, ok1 := TargetFromContext(ctx)
	_, ok2 := IntegrationFromContext(ctx)
	_, ok3 := ConnectionFromContext(ctx)
	if !ok1 || !ok2 || !ok3 {
		fail(w, errors.New("middleware: forwarder mounted without guard, resolver and injector"))
		return
	}
	if f.cfg.MaxRequestBytes > 0 {
		if r.ContentLength > f.cfg.MaxRequestBytes {
			fail(w, response.New(http.StatusRequestEntityTooLarge, response.CodeRequestTooLarge, "The request body is larger than the configured limit."))
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
			fail(w, e)
			return
		}
		defer f.busy.Release(1)
	}
	in, _ := IntegrationFromContext(ctx)
	attempts, timeout, err := f.requestOptions(r.Header, in)
	if err != nil {
		fail(w, err)
		return
	}
	if attempts > 1 {
		ctx = withAttempts(ctx, attempts)
	}
	if s := stateFrom(ctx); timeout > 0 && (s == nil || !s.deadline) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	f.proxy.ServeHTTP(w, r)
}

// requestOptions reads the per-request headers: RetryHeader (attempts, up to
// 10) and TimeoutHeader (shortens the configured deadline).
func (f *Forwarder) requestOptions(h http.Header, in *Integration) (attempts int, timeout time.Duration, err error) {
	attempts = in.cfg.Retry.MaxAttempts
	if v := headerValue(h, RetryHeader); v != "" {
		n, perr := strconv.Atoi(strings.TrimSpace(v))
		if perr != nil || n < 0 || n > maxAttemptsCap {
			return 0, 0, response.New(http.StatusBadRequest, response.CodeBadRequest, RetryHeader+" must be a whole number from 0 to 10.")
		}
		attempts = n
	}
	if timeout, err = f.timeout(h); err != nil {
		return 0, 0, err
	}
	return attempts, timeout, nil
}

// timeout is the request's deadline: the configured Timeout, shortened by
// TimeoutHeader; zero or less means none.
func (f *Forwarder) timeout(h http.Header) (time.Duration, error) {
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

// guardedTransport sends a request through its integration's transport.
type guardedTransport struct{ f *Forwarder }

func (g guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	in, _ := IntegrationFromContext(req.Context())
	next, err := g.f.transportFor(in)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	return next.RoundTrip(req)
}

// noUserAgent is the User-Agent value that stops the transport from sending
// Go's default. Shared by every request: never written to.
var noUserAgent = []string{""}

// strippedPrefixes are request header families never forwarded.
var strippedPrefixes = []string{"X-Paragon-", "X-Forwarded-", "X-Onbehalf-", "Sec-Websocket-"}

// stripped reports whether a request header (canonical name) is never
// forwarded: the caller's own credentials and facts about the host app that
// the provider has no business seeing, the families in strippedPrefixes,
// and the headers of a protocol upgrade or declared trailers (a tunnel would
// bypass the response modes; ReverseProxy adds back the Connection and
// Upgrade headers of an upgrade request after its hop-by-hop stripping, and
// keeps the inbound trailers). Hop-by-hop headers are removed by
// ReverseProxy before Rewrite, so nothing a client lists in Connection can
// remove what is added later.
func stripped(k string) bool {
	switch k {
	case "Authorization", "Cookie", "Proxy-Authorization", "Forwarded", "X-Real-Ip", "Origin", "Referer",
		"Connection", "Upgrade", "Trailer",
		// Hop-by-hop: ReverseProxy removes these by canonical name before
		// Rewrite; a hand-built request may still hold them under another.
		"Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Trailers":
		return true
	}
	for _, p := range strippedPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func (f *Forwarder) rewrite(pr *httputil.ProxyRequest) {
	ctx := pr.In.Context()
	target, _ := TargetFromContext(ctx)
	in, _ := IntegrationFromContext(ctx)
	out := pr.Out
	*out.URL = *target // out.URL is the proxy's own clone of the inbound URL
	out.Host = ""
	h := out.Header
	// The JSON mode reads the body: ask for it unencoded.
	m, _ := response.ModeFromContext(ctx)
	dropEncoding := m == response.ModeJSON
	for k, v := range h {
		// A server gives canonical names; a request built by hand may not,
		// and must not slip a header past the filter that way.
		ck := http.CanonicalHeaderKey(k)
		switch {
		case stripped(ck) || (dropEncoding && ck == "Accept-Encoding"):
			delete(h, k)
		case ck != k:
			// Under its canonical name, so that the transport's own rules
			// for Host, Content-Length and User-Agent apply to it rather
			// than a second line of it going out.
			delete(h, k)
			h[ck] = append(h[ck], v...)
		}
	}
	out.Trailer = nil
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = noUserAgent // no Go default
	}
	f.prepareBody(out, in)
	// The credential goes onto the outbound copy, after every header the
	// client sent was filtered, so nothing it sends can remove or replace it.
	c, _ := ConnectionFromContext(ctx)
	if in.cfg.FollowRedirects > 0 {
		if s := stateFrom(ctx); s != nil {
			s.bareHeader = out.Header.Clone()
		}
	}
	if err := in.Apply(out.Header, out.URL, c); err != nil {
		// Rewrite cannot fail: the transport returns the error before
		// anything is sent.
		if s := stateFrom(ctx); s != nil {
			s.applyErr = err
		}
	}
}

// prepareBody resolves "Content-Type: auto" and keeps small bodies so the
// request can be replayed after a refresh-on-401.
func (f *Forwarder) prepareBody(out *http.Request, in *Integration) {
	auto := resolveAutoType(out.Header)
	hasBody := out.Body != nil && out.Body != http.NoBody
	if !hasBody {
		if auto {
			out.Header.Del("Content-Type")
		}
		return
	}
	retries := false
	if s := stateFrom(out.Context()); s != nil {
		retries = s.attempts > 1
	}
	keep := (in.Grant() != nil || retries || in.cfg.FollowRedirects > 0) && f.cfg.ReplayBytes > 0 && out.ContentLength > 0 && out.ContentLength <= f.cfg.ReplayBytes
	if !auto && !keep {
		return
	}
	limit := f.cfg.ReplayBytes
	if auto && limit < sniffBytes {
		limit = sniffBytes
	}
	buf, complete, err := readUpTo(out.Body, limit)
	if err != nil {
		out.Body = io.NopCloser(errReader{err})
		out.GetBody = nil
		return
	}
	if auto {
		ct := in.cfg.DefaultContentType
		if complete && jsonValid(buf) {
			ct = "application/json"
		} else if ct == "" {
			ct = "application/octet-stream"
		}
		out.Header.Set("Content-Type", ct)
	}
	if complete {
		setBufferedBody(out, buf)
		return
	}
	out.Body = multiReadCloser(buf, out.Body)
	out.GetBody = nil
}

// resolveAutoType removes the SDK's "auto" Content-Type (also when a browser
// joined it with another value) and reports whether the type must be sniffed.
func resolveAutoType(h http.Header) bool {
	vals := h.Values("Content-Type")
	if len(vals) == 0 {
		return false
	}
	var kept []string
	sawAuto := false
	for _, v := range vals {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if strings.EqualFold(part, "auto") {
				sawAuto = true
				continue
			}
			if part != "" {
				kept = append(kept, part)
			}
		}
	}
	if !sawAuto {
		return false
	}
	h.Del("Content-Type")
	if len(kept) > 0 {
		h.Set("Content-Type", kept[0])
		return false
	}
	return true
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
	fail(w, err)
}

// transportFor returns the upstream transport for an integration: one per
// distinct set of allowed internal ranges.
func (f *Forwarder) transportFor(in *Integration) (http.RoundTripper, error) {
	if f.cfg.RoundTripper != nil {
		return f.cfg.RoundTripper, nil
	}
	if in != nil {
		// Integrations are immutable: remember each one's transport, so the
		// per-request path does not rebuild its key.
		if rt, ok := f.byIntegration.Load(in); ok {
			return rt.(http.RoundTripper), nil
		}
	}
	rt, err := f.transportForRanges(in)
	if err != nil || in == nil {
		return rt, err
	}
	// A registry that builds integrations on the fly would grow this map
	// without end: start over past a bound (the transports stay shared).
	if f.byIntegrationN.Add(1) > maxIntegrationTransports {
		f.byIntegration.Clear()
		f.byIntegrationN.Store(1)
	}
	f.byIntegration.Store(in, rt)
	return rt, nil
}

// maxIntegrationTransports bounds the cache of transports by integration.
const maxIntegrationTransports = 4096

func (f *Forwarder) transportForRanges(in *Integration) (http.RoundTripper, error) {
	var ranges []string
	if in != nil {
		for _, p := range in.AllowAddresses() {
			ranges = append(ranges, p.String())
		}
		slices.Sort(ranges)
	}
	key := strings.Join(ranges, ",")
	if rt, ok := f.transports.Load(key); ok {
		return rt.(http.RoundTripper), nil
	}
	cfg := f.base
	gcfg := hosts.GuardConfig{}
	if in != nil {
		gcfg.Allow = in.AllowAddresses()
	}
	g, err := hosts.NewGuard(gcfg)
	if err != nil {
		return nil, err
	}
	cfg.Guard = g
	t, err := hosts.NewTransport(cfg)
	if err != nil {
		return nil, err
	}
	rt, _ := f.transports.LoadOrStore(key, http.RoundTripper(t))
	return rt.(http.RoundTripper), nil
}

// CloseIdleConnections closes idle upstream connections of every transport.
func (f *Forwarder) CloseIdleConnections() {
	f.transports.Range(func(_, v any) bool {
		if c, ok := v.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
		return true
	})
}
