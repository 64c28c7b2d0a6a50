// Package otelobserver reports the onbehalf handler's requests and token
// refreshes to OpenTelemetry: one span per request and the metrics below. It
// is a module of its own, so the core module does not depend on
// OpenTelemetry.
//
// The smallest wiring, with the global providers the application set up:
//
//	obs, err := otelobserver.New(otelobserver.Config{})
//	if err != nil {
//		log.Fatal(err)
//	}
//	onRefresh, onFailed := obs.RefreshHooks()
//	rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store,
//		OnRefresh: onRefresh, OnRefreshFailed: onFailed})
//	if err != nil {
//		log.Fatal(err)
//	}
//	h, err := middleware.New(middleware.Config{Projects: projects, Store: store,
//		Refresher: rf, Observer: obs})
//
// To keep the access log too, chain both observers:
// middleware.Observers(&middleware.LogObserver{}, obs).
//
// For Prometheus, build the MeterProvider with the exporter of
// go.opentelemetry.io/otel/exporters/prometheus (this module does not depend
// on it) and serve promhttp.Handler():
//
//	exporter, err := prometheus.New() // registers with prometheus.DefaultRegisterer
//	if err != nil {
//		log.Fatal(err)
//	}
//	obs, err := otelobserver.New(otelobserver.Config{
//		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter)),
//	})
//	mux.Handle("GET /metrics", promhttp.Handler())
//
// # Metrics
//
//	name                        instrument         unit        Prometheus name
//	onbehalf.requests           Int64Counter       {request}   onbehalf_requests_total
//	onbehalf.request.duration   Float64Histogram   s           onbehalf_request_duration_seconds
//	onbehalf.upstream.duration  Float64Histogram   s           onbehalf_upstream_duration_seconds
//	onbehalf.retries            Int64Counter       {retry}     onbehalf_retries_total
//	onbehalf.refreshes          Int64Counter       {refresh}   onbehalf_refreshes_total
//	onbehalf.refresh.duration   Float64Histogram   s           onbehalf_refresh_duration_seconds
//
// The four request metrics carry onbehalf.route, onbehalf.integration,
// http.response.status_code, and on errors error.type (the error code, such
// as HOST_NOT_ALLOWED, or the status of a 5xx without one) and
// onbehalf.error.source ("proxy" or "integration"); an attribute whose value
// is unknown is left out. onbehalf.upstream.duration is recorded only for
// requests sent upstream, onbehalf.retries only for requests retried. The
// refresh metrics carry onbehalf.integration and outcome: success,
// reauth_required (the grant is gone) or failed (transient). No metric
// carries the project, the host, the path or the user. Histograms use the
// HTTP semantic conventions' bounds, 5 ms to 10 s.
//
// # Spans
//
// A span named "onbehalf ROUTE INTEGRATION" ("onbehalf proxy salesforce")
// covers each request, from the Record's start to its end. Its parent is the
// span in the request context, such as otelhttp's server span around the
// handler, and it is then of kind Internal; without one, it is of kind
// Server, with a parent the Propagator extracted from the request header.
// Beside the metric attributes it carries http.request.method,
// http.response.body.size, server.address (the target host),
// onbehalf.project, onbehalf.mode, onbehalf.retries,
// onbehalf.upstream.duration (seconds) and, with Config.RecordUser only,
// enduser.id. Its status is Error for a 5xx and for every error of the proxy
// itself (onbehalf.error.source "proxy"), with the error code as
// description. The span is recorded after the answer was written, so spans
// started during the request are its siblings, not its children.
//
// No span or metric carries a token, a credential, a header value or a body.
package otelobserver
