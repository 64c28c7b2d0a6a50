package otelobserver_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/middleware/otelobserver"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// rig is an Observer on SDK providers that tests can read, with a channel
// that receives a copy of each Record once the Observer has seen it.
type rig struct {
	obs     *otelobserver.Observer
	reader  *sdkmetric.ManualReader
	spans   *tracetest.SpanRecorder
	tp      *sdktrace.TracerProvider
	records chan middleware.Record
}

func newRig(t *testing.T, cfg otelobserver.Config) *rig {
	t.Helper()
	r := &rig{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder(),
		records: make(chan middleware.Record, 16)}
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	t.Cleanup(func() { _ = r.tp.Shutdown(context.Background()) })
	cfg.TracerProvider = r.tp
	cfg.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	var err error
	if r.obs, err = otelobserver.New(cfg); err != nil {
		t.Fatal(err)
	}
	return r
}

// observer is the Observer to configure: the rig's, then the notifier.
func (r *rig) observer() middleware.Observer {
	return middleware.Observers(r.obs, middleware.ObserverFunc(func(_ context.Context, rec *middleware.Record) {
		r.records <- *rec
	}))
}

// env starts an onbehalftest.Env observed by the rig; configure, when not
// nil, changes the config further.
func (r *rig) env(t *testing.T, opts onbehalftest.EnvOptions) *onbehalftest.Env {
	t.Helper()
	configure := opts.Configure
	opts.Configure = func(c *middleware.Config) {
		c.Observer = r.observer()
		if configure != nil {
			configure(c)
		}
	}
	return onbehalftest.NewEnv(t, opts)
}

// do sends req, drains the answer and waits for its Record: Observe runs
// after the answer was written, so the client may see it first.
func (r *rig) do(t *testing.T, req *http.Request) (*http.Response, middleware.Record) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	select {
	case rec := <-r.records:
		return resp, rec
	case <-time.After(10 * time.Second):
		t.Fatal("no Record observed")
	}
	panic("unreachable")
}

// get builds a GET of target with the user token tok.
func get(t *testing.T, target, tok string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return req
}

// collect returns the collected metrics by name.
func (r *rig) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelobserver.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, otelobserver.ScopeName)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// attrs flattens a set to key → value as text.
func attrs(s attribute.Set) map[string]string {
	out := map[string]string{}
	for _, kv := range s.ToSlice() {
		out[string(kv.Key)] = kv.Value.Emit()
	}
	return out
}

func kvAttrs(kvs []attribute.KeyValue) map[string]string {
	return attrs(attribute.NewSet(kvs...))
}

// counter returns the one data point of the Int64 sum name.
func counter(t *testing.T, ms map[string]metricdata.Metrics, name string) metricdata.DataPoint[int64] {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is %T, want an Int64 sum", name, m.Data)
	}
	if !sum.IsMonotonic || len(sum.DataPoints) != 1 {
		t.Fatalf("%s: monotonic %v, %d points; want monotonic, 1 point", name, sum.IsMonotonic, len(sum.DataPoints))
	}
	return sum.DataPoints[0]
}

// histogram returns the one data point of the Float64 histogram name.
func histogram(t *testing.T, ms map[string]metricdata.Metrics, name string) metricdata.HistogramDataPoint[float64] {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is %T, want a Float64 histogram", name, m.Data)
	}
	if len(h.DataPoints) != 1 {
		t.Fatalf("%s: %d points, want 1", name, len(h.DataPoints))
	}
	return h.DataPoints[0]
}

// counterPoints returns the data points of an Int64 sum.
func counterPoints(t *testing.T, m metricdata.Metrics) []metricdata.DataPoint[int64] {
	t.Helper()
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is %T, want an Int64 sum", m.Name, m.Data)
	}
	return sum.DataPoints
}
