package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/tokens"
)

// metrics holds the server's Prometheus collectors, in a registry of its
// own (no global state), served by handler on the metrics listener.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	refreshes *prometheus.CounterVec
	storeErrs *prometheus.CounterVec
	manage    *prometheus.CounterVec
	known     map[string]bool // integration keys of the config: the only label values
}

func newMetrics(known map[string]bool) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), known: known,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onbehalf_requests_total",
			Help: "Requests handled by the proxy and SDK routes, by route, integration and HTTP status."},
			[]string{"route", "integration", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "onbehalf_request_duration_seconds",
			Help: "Time to answer a proxy or SDK request, by route, integration and HTTP status.", Buckets: prometheus.DefBuckets},
			[]string{"route", "integration", "status"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onbehalf_refreshes_total",
			Help: "OAuth2 token refreshes by integration and outcome (ok, failed, needs_reauth)."},
			[]string{"integration", "outcome"}),
		storeErrs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onbehalf_store_errors_total",
			Help: "Token store operations that failed (not counting not-found and version conflicts), by operation."},
			[]string{"op"}),
		manage: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onbehalf_manage_requests_total",
			Help: "Management API requests by route and HTTP status."},
			[]string{"route", "status"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.refreshes, m.storeErrs, m.manage,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// handler serves /metrics.
func (m *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

// integration returns k when the config defines it, else "other": label
// values never come unchecked from a request path.
func (m *metrics) integration(k string) string {
	if k == "" || m.known[k] {
		return k
	}
	return "other"
}

// Observe implements middleware.Observer.
func (m *metrics) Observe(_ context.Context, rec *middleware.Record) {
	in, st := m.integration(rec.Integration), strconv.Itoa(rec.Status)
	m.requests.WithLabelValues(rec.Route, in, st).Inc()
	m.latency.WithLabelValues(rec.Route, in, st).Observe(rec.Duration.Seconds())
}

func (m *metrics) refreshed(ev tokens.RefreshEvent) {
	m.refreshes.WithLabelValues(m.integration(ev.Key.Integration), "ok").Inc()
}

func (m *metrics) refreshFailed(ev tokens.RefreshEvent) {
	outcome := "failed"
	if ev.NeedsReauth {
		outcome = "needs_reauth"
	}
	m.refreshes.WithLabelValues(m.integration(ev.Key.Integration), outcome).Inc()
}

// countedStore counts the failures of a Store's operations. It passes
// DueIndex (through Unwrap) and Invalidate on.
type countedStore struct {
	tokens.Store
	m *metrics
}

func (s countedStore) count(op string, err error) error {
	if err != nil && !errors.Is(err, tokens.ErrNotFound) && !errors.Is(err, tokens.ErrConflict) &&
		!errors.Is(err, context.Canceled) {
		s.m.storeErrs.WithLabelValues(op).Inc()
	}
	return err
}

func (s countedStore) Get(ctx context.Context, k tokens.Key) (*tokens.Connection, error) {
	c, err := s.Store.Get(ctx, k)
	return c, s.count("get", err)
}

func (s countedStore) List(ctx context.Context, project, user string) ([]*tokens.Connection, error) {
	cs, err := s.Store.List(ctx, project, user)
	return cs, s.count("list", err)
}

func (s countedStore) Save(ctx context.Context, c *tokens.Connection) error {
	return s.count("save", s.Store.Save(ctx, c))
}

func (s countedStore) Delete(ctx context.Context, k tokens.Key) error {
	return s.count("delete", s.Store.Delete(ctx, k))
}

// Invalidate passes on to a caching store.
func (s countedStore) Invalidate(ctx context.Context, k tokens.Key) {
	if inv, ok := s.Store.(tokens.Invalidator); ok {
		inv.Invalidate(ctx, k)
	}
}

// Unwrap names the decorated store (tokens.IndexOf).
func (s countedStore) Unwrap() tokens.Store { return s.Store }
