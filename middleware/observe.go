package middleware

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/onbehalf/onbehalf/middleware/upstream"
	"github.com/onbehalf/onbehalf/response"
)

// Record describes one request handled by the Handler, for an Observer. It
// holds no secret: no token, no credential, no body.
type Record struct {
	Start    time.Time
	Duration time.Duration // until the handler returned (the body streamed)
	Method   string
	// Route is "proxy", "me", "integrations", "connect", or "" when no route matched.
	Route       string
	Project     string
	User        string // the token's sub, once verified
	Integration string // the integration key ("salesforce", "custom.tasklab")
	Host        string // the target host, once checked
	Mode        string // "json" or "raw"
	Status      int
	BytesOut    int64
	// UpstreamLatency is the time until the provider's response headers
	// (retries and a refresh-on-401 replay included); zero when nothing was sent.
	UpstreamLatency time.Duration
	Retries         int
	// ErrorCode and ErrorSource ("proxy" or "integration") are set on error answers.
	ErrorCode   string
	ErrorSource string
	// RequestHeader is the inbound request's header, read only. It carries the
	// user token: log it only through RedactHeader.
	RequestHeader http.Header
}

// Observer receives one Record per request after the answer was written.
// Implementations must be safe for concurrent use, return quickly, and not
// keep the Record after Observe returns.
type Observer interface {
	Observe(ctx context.Context, rec *Record)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ctx context.Context, rec *Record)

// Observe calls f.
func (f ObserverFunc) Observe(ctx context.Context, rec *Record) { f(ctx, rec) }

// Observers fans a Record out to several observers in order.
func Observers(obs ...Observer) Observer {
	return ObserverFunc(func(ctx context.Context, rec *Record) {
		for _, o := range obs {
			o.Observe(ctx, rec)
		}
	})
}

// DefaultLoggedHeaders are the request headers whose values the log observer
// writes; every other header is logged by name with its value redacted.
var DefaultLoggedHeaders = []string{"Accept", "Content-Type", "Content-Length", "User-Agent",
	"X-Paragon-Sdk-Version", "X-Paragon-Use-Raw-Response", upstream.RetryHeader, upstream.TimeoutHeader}

// neverLogged are headers whose values are redacted even when allowed.
var neverLogged = map[string]bool{"Authorization": true, "Cookie": true, "Proxy-Authorization": true,
	"Set-Cookie": true, CredentialHeader: true, ProxyURLHeader: true}

// RedactHeader returns the header's names, each with its value when allow
// names it (case-insensitively) and "[redacted]" otherwise. Authorization,
// Cookie, Proxy-Authorization, X-Paragon-Credential and X-Paragon-Proxy-Url
// are always redacted.
func RedactHeader(h http.Header, allow []string) map[string]string {
	ok := make(map[string]bool, len(allow))
	for _, a := range allow {
		ok[http.CanonicalHeaderKey(a)] = true
	}
	out := make(map[string]string, len(h))
	for k, vs := range h {
		ck := http.CanonicalHeaderKey(k)
		if ok[ck] && !neverLogged[ck] {
			out[ck] = strings.Join(vs, ", ")
		} else {
			out[ck] = "[redacted]"
		}
	}
	return out
}

// LogObserver writes one structured log line per request with log/slog:
// method, route, project, user, integration, host, mode, status, duration,
// upstream latency, bytes, retries, error code and source, and the request
// headers redacted by an allowlist. Errors the proxy produced log at Warn
// when 5xx, everything else at Info.
type LogObserver struct {
	Logger *slog.Logger // nil means slog.Default()
	// Headers are the request headers whose values are logged; nil means
	// DefaultLoggedHeaders. Others are logged by name only.
	Headers []string
}

// Observe implements Observer.
func (o *LogObserver) Observe(ctx context.Context, rec *Record) {
	l := o.Logger
	if l == nil {
		l = slog.Default()
	}
	level := slog.LevelInfo
	if rec.Status >= 500 && rec.ErrorSource != "integration" {
		level = slog.LevelWarn
	}
	allow := o.Headers
	if allow == nil {
		allow = DefaultLoggedHeaders
	}
	hdr := RedactHeader(rec.RequestHeader, allow)
	attrs := make([]any, 0, len(hdr))
	for k, v := range hdr {
		attrs = append(attrs, slog.String(k, v))
	}
	l.LogAttrs(ctx, level, "onbehalf request",
		slog.String("method", rec.Method),
		slog.String("route", rec.Route),
		slog.String("project", rec.Project),
		slog.String("user", rec.User),
		slog.String("integration", rec.Integration),
		slog.String("host", rec.Host),
		slog.String("mode", rec.Mode),
		slog.Int("status", rec.Status),
		slog.Float64("duration_ms", float64(rec.Duration.Microseconds())/1000),
		slog.Float64("upstream_ms", float64(rec.UpstreamLatency.Microseconds())/1000),
		slog.Int64("bytes", rec.BytesOut),
		slog.Int("retries", rec.Retries),
		slog.String("error_code", rec.ErrorCode),
		slog.String("error_source", rec.ErrorSource),
		slog.Group("header", attrs...),
	)
}

// observedWriter records the status and size of the answer. It implements
// Unwrap so http.ResponseController (flushes, deadlines) keeps working.
type observedWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *observedWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *observedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush forwards to the underlying writer when it can flush.
func (w *observedWriter) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the underlying writer.
func (w *observedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveObserved runs next with a fresh request state and hands the Record to obs.
func serveObserved(obs Observer, next http.Handler, w http.ResponseWriter, r *http.Request) {
	ctx, s := ensureState(r.Context())
	s.start = time.Now()
	ow := &observedWriter{ResponseWriter: w}
	defer func() {
		rec := &Record{Start: s.start, Duration: time.Since(s.start), Method: r.Method,
			Mode: response.ModeOf(r.Header).String(), Status: ow.status, BytesOut: ow.bytes,
			UpstreamLatency: s.up.Upstream, Retries: s.up.Retries, RequestHeader: r.Header}
		if s.hasRoute {
			rec.Route, rec.Project = s.route.Kind.String(), s.route.Project
		}
		if s.hasPrincipal {
			rec.User = s.principal.User
		}
		if s.up.Integration != nil {
			rec.Integration = s.up.Integration.Key()
		}
		if s.up.Target != nil {
			rec.Host = s.up.Target.Hostname()
		}
		h := ow.Header()
		rec.ErrorCode, rec.ErrorSource = h.Get(response.ErrorCodeHeader), h.Get(response.ErrorSourceHeader)
		obs.Observe(ctx, rec)
	}()
	next.ServeHTTP(ow, withContext(r, ctx))
}
