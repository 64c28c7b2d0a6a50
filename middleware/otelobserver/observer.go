package otelobserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/onbehalf/onbehalf/middleware"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/onbehalf/onbehalf/middleware/otelobserver"

// Attribute keys the Observer sets on spans and metrics, beside the
// semantic-convention keys http.request.method, http.response.status_code,
// http.response.body.size, server.address, error.type and enduser.id.
const (
	AttrProject          = attribute.Key("onbehalf.project")
	AttrIntegration      = attribute.Key("onbehalf.integration")
	AttrRoute            = attribute.Key("onbehalf.route")
	AttrMode             = attribute.Key("onbehalf.mode")
	AttrRetries          = attribute.Key("onbehalf.retries")
	AttrErrorSource      = attribute.Key("onbehalf.error.source")
	AttrUpstreamDuration = attribute.Key("onbehalf.upstream.duration") // seconds, spans only
	AttrOutcome          = attribute.Key("outcome")                    // refresh metrics only

	attrMethod     = attribute.Key("http.request.method")
	attrStatusCode = attribute.Key("http.response.status_code")
	attrBodySize   = attribute.Key("http.response.body.size")
	attrServerAddr = attribute.Key("server.address")
	attrErrorType  = attribute.Key("error.type")
	attrEndUserID  = attribute.Key("enduser.id")
)

// durationBuckets are the explicit histogram bounds, in seconds, that the
// HTTP semantic conventions recommend for request durations.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// Config configures New. The zero value uses the global providers.
type Config struct {
	// TracerProvider creates the tracer. Nil means otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider creates the meter. Nil means otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Propagator extracts a remote parent (traceparent) from the request
	// header when the request context carries no span. Nil means
	// otel.GetTextMapPropagator(), which propagates nothing until the
	// application sets one.
	Propagator propagation.TextMapPropagator
	// RecordUser adds the user id (the user token's verified sub) to spans
	// as enduser.id. The id is an identifier, not a secret, but it is
	// personal data: false, the default, leaves it out. It never becomes a
	// metric attribute.
	RecordUser bool
}

// Observer turns the handler's Records into OpenTelemetry spans and
// metrics, and token refreshes into metrics (RefreshHooks). Build it with
// New; it is safe for concurrent use.
type Observer struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	recordUser bool

	requests        metric.Int64Counter
	requestDuration metric.Float64Histogram
	upstream        metric.Float64Histogram
	retries         metric.Int64Counter
	refreshes       metric.Int64Counter
	refreshDuration metric.Float64Histogram
}

var _ middleware.Observer = (*Observer)(nil)

// New creates the tracer, the meter and every instrument once.
func New(cfg Config) (*Observer, error) {
	tp, mp, prop := cfg.TracerProvider, cfg.MeterProvider, cfg.Propagator
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	m := mp.Meter(ScopeName)
	o := &Observer{tracer: tp.Tracer(ScopeName), propagator: prop, recordUser: cfg.RecordUser}
	var errs [6]error
	o.requests, errs[0] = m.Int64Counter("onbehalf.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Requests handled by the onbehalf handler."))
	o.requestDuration, errs[1] = m.Float64Histogram("onbehalf.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from the request's arrival to the end of its answer."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	o.upstream, errs[2] = m.Float64Histogram("onbehalf.upstream.duration", metric.WithUnit("s"),
		metric.WithDescription("Time until the provider's response headers, retries and a refresh-on-401 replay included."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	o.retries, errs[3] = m.Int64Counter("onbehalf.retries", metric.WithUnit("{retry}"),
		metric.WithDescription("Upstream retries."))
	o.refreshes, errs[4] = m.Int64Counter("onbehalf.refreshes", metric.WithUnit("{refresh}"),
		metric.WithDescription("OAuth2 token refreshes, by outcome."))
	o.refreshDuration, errs[5] = m.Float64Histogram("onbehalf.refresh.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of a token refresh, lock wait included."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("otelobserver: creating instruments: %w", err)
	}
	return o, nil
}

// Observe implements middleware.Observer: it records one span, backdated to
// the Record's start and end, and the request metrics.
//
// The span's parent is the span in ctx, if any, such as the server span of
// otelhttp wrapped around the handler; the onbehalf span is then of kind
// Internal, since the host application's span is the server span. Without a
// span in ctx, the parent is extracted from the request header by the
// Propagator and the span is of kind Server. Because the span is recorded
// after the answer, it is not the parent of spans started during the request
// (an instrumented upstream transport): those are its siblings.
func (o *Observer) Observe(ctx context.Context, rec *middleware.Record) {
	common := requestAttrs(rec)
	set := metric.WithAttributeSet(attribute.NewSet(common...))
	o.requests.Add(ctx, 1, set)
	o.requestDuration.Record(ctx, rec.Duration.Seconds(), set)
	if rec.UpstreamLatency > 0 {
		o.upstream.Record(ctx, rec.UpstreamLatency.Seconds(), set)
	}
	if rec.Retries > 0 {
		o.retries.Add(ctx, int64(rec.Retries), set)
	}
	o.span(ctx, rec, common)
}

// span records the request's span.
func (o *Observer) span(ctx context.Context, rec *middleware.Record, common []attribute.KeyValue) {
	kind := trace.SpanKindServer
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !sc.IsRemote() {
		kind = trace.SpanKindInternal
	} else if !sc.IsValid() && rec.RequestHeader != nil {
		ctx = o.propagator.Extract(ctx, propagation.HeaderCarrier(rec.RequestHeader))
	}
	attrs := append(common, attrMethod.String(method(rec.Method)),
		AttrRetries.Int(rec.Retries), attrBodySize.Int64(rec.BytesOut))
	if rec.Project != "" {
		attrs = append(attrs, AttrProject.String(rec.Project))
	}
	if rec.Host != "" {
		attrs = append(attrs, attrServerAddr.String(rec.Host))
	}
	if rec.Mode != "" {
		attrs = append(attrs, AttrMode.String(rec.Mode))
	}
	if rec.UpstreamLatency > 0 {
		attrs = append(attrs, AttrUpstreamDuration.Float64(rec.UpstreamLatency.Seconds()))
	}
	if o.recordUser && rec.User != "" {
		attrs = append(attrs, attrEndUserID.String(rec.User))
	}
	_, sp := o.tracer.Start(ctx, spanName(rec), trace.WithSpanKind(kind),
		trace.WithTimestamp(rec.Start), trace.WithAttributes(attrs...))
	if rec.Status >= 500 || rec.ErrorSource == "proxy" {
		sp.SetStatus(codes.Error, errorType(rec))
	}
	sp.End(trace.WithTimestamp(rec.Start.Add(rec.Duration)))
}

// requestAttrs are the attributes of the request metrics, also set on the
// span: all of bounded cardinality (no project, host, user or path).
func requestAttrs(rec *middleware.Record) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 12)
	if rec.Route != "" {
		attrs = append(attrs, AttrRoute.String(rec.Route))
	}
	if rec.Integration != "" {
		attrs = append(attrs, AttrIntegration.String(rec.Integration))
	}
	if rec.Status != 0 {
		attrs = append(attrs, attrStatusCode.Int(rec.Status))
	}
	if et := errorType(rec); et != "" {
		attrs = append(attrs, attrErrorType.String(et))
	}
	if rec.ErrorSource != "" {
		attrs = append(attrs, AttrErrorSource.String(rec.ErrorSource))
	}
	return attrs
}

// errorType is the record's error code; a 5xx without one (a provider's
// answer passed through in raw mode) is typed by its status code, as the
// semantic conventions ask.
func errorType(rec *middleware.Record) string {
	if rec.ErrorCode != "" {
		return rec.ErrorCode
	}
	if rec.Status >= 500 {
		return strconv.Itoa(rec.Status)
	}
	return ""
}

// spanName is "onbehalf ROUTE INTEGRATION", shortened when either is unknown.
func spanName(rec *middleware.Record) string {
	name := "onbehalf"
	if rec.Route != "" {
		name += " " + rec.Route
	}
	if rec.Integration != "" {
		name += " " + rec.Integration
	}
	return name
}

// knownMethods are the methods recorded as sent; any other is "_OTHER", so
// a client cannot put arbitrary text into the attribute.
var knownMethods = map[string]bool{http.MethodGet: true, http.MethodHead: true, http.MethodPost: true,
	http.MethodPut: true, http.MethodPatch: true, http.MethodDelete: true, http.MethodConnect: true,
	http.MethodOptions: true, http.MethodTrace: true}

func method(m string) string {
	if knownMethods[m] {
		return m
	}
	return "_OTHER"
}
