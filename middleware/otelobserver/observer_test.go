package otelobserver_test

import (
	"context"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/middleware/otelobserver"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// Requests through a real handler: the metrics and the span of a success, a
// host the integration does not allow, and a provider's 404.
func TestObserveRequests(t *testing.T) {
	cases := []struct {
		name       string
		path       string
		status     int
		metric     map[string]string // attributes of the request metrics
		upstream   bool              // onbehalf.upstream.duration recorded
		span       string
		spanStatus codes.Code
		spanDesc   string
		host       string // server.address, "" for none
	}{
		{name: "success", path: "tasks", status: 200,
			metric:   map[string]string{"onbehalf.route": "proxy", "onbehalf.integration": "custom.tasklab", "http.response.status_code": "200"},
			upstream: true, span: "onbehalf proxy custom.tasklab", spanStatus: codes.Unset, host: "localhost"},
		{name: "refused host", path: "https://evil.example.com/x", status: 403,
			metric: map[string]string{"onbehalf.route": "proxy", "onbehalf.integration": "custom.tasklab", "http.response.status_code": "403",
				"error.type": "HOST_NOT_ALLOWED", "onbehalf.error.source": "proxy"},
			span: "onbehalf proxy custom.tasklab", spanStatus: codes.Error, spanDesc: "HOST_NOT_ALLOWED"},
		{name: "upstream 404", path: "tasks/999", status: 404,
			metric: map[string]string{"onbehalf.route": "proxy", "onbehalf.integration": "custom.tasklab", "http.response.status_code": "404",
				"error.type": "INTEGRATION_ERROR", "onbehalf.error.source": "integration"},
			upstream: true, span: "onbehalf proxy custom.tasklab", spanStatus: codes.Unset, host: "localhost"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, otelobserver.Config{})
			e := r.env(t, onbehalftest.EnvOptions{})
			tok := e.Token()
			resp, rec := r.do(t, get(t, e.ProxyURL("custom.tasklab", tc.path), tok))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}

			ms := r.collect(t)
			reqs := counter(t, ms, "onbehalf.requests")
			if got := attrs(reqs.Attributes); reqs.Value != 1 || !maps.Equal(got, tc.metric) {
				t.Errorf("onbehalf.requests = %d %v, want 1 %v", reqs.Value, got, tc.metric)
			}
			if ms["onbehalf.requests"].Unit != "{request}" {
				t.Errorf("onbehalf.requests unit %q", ms["onbehalf.requests"].Unit)
			}
			dur := histogram(t, ms, "onbehalf.request.duration")
			if got := attrs(dur.Attributes); dur.Count != 1 || !maps.Equal(got, tc.metric) {
				t.Errorf("onbehalf.request.duration count %d %v, want 1 %v", dur.Count, got, tc.metric)
			}
			if math.Abs(dur.Sum-rec.Duration.Seconds()) > 1e-9 || ms["onbehalf.request.duration"].Unit != "s" {
				t.Errorf("onbehalf.request.duration sum %v %s, want %v s", dur.Sum, ms["onbehalf.request.duration"].Unit, rec.Duration.Seconds())
			}
			if _, ok := ms["onbehalf.upstream.duration"]; ok != tc.upstream {
				t.Errorf("onbehalf.upstream.duration recorded %v, want %v", ok, tc.upstream)
			} else if ok {
				up := histogram(t, ms, "onbehalf.upstream.duration")
				if up.Count != 1 || up.Sum <= 0 || up.Sum != rec.UpstreamLatency.Seconds() {
					t.Errorf("onbehalf.upstream.duration count %d sum %v, want 1 %v", up.Count, up.Sum, rec.UpstreamLatency.Seconds())
				}
			}
			if _, ok := ms["onbehalf.retries"]; ok {
				t.Error("onbehalf.retries recorded for a request without retries")
			}

			spans := r.spans.Ended()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			sp := spans[0]
			if sp.Name() != tc.span || sp.SpanKind() != trace.SpanKindServer {
				t.Errorf("span %q %v, want %q server", sp.Name(), sp.SpanKind(), tc.span)
			}
			if sp.Status().Code != tc.spanStatus || sp.Status().Description != tc.spanDesc {
				t.Errorf("span status %v %q, want %v %q", sp.Status().Code, sp.Status().Description, tc.spanStatus, tc.spanDesc)
			}
			if !sp.StartTime().Equal(rec.Start) || !sp.EndTime().Equal(rec.Start.Add(rec.Duration)) {
				t.Errorf("span %v..%v, want the record's %v..%v", sp.StartTime(), sp.EndTime(), rec.Start, rec.Start.Add(rec.Duration))
			}
			want := maps.Clone(tc.metric)
			want["http.request.method"] = "GET"
			want["onbehalf.project"] = "proj-test"
			want["onbehalf.mode"] = "json"
			want["onbehalf.retries"] = "0"
			want["http.response.body.size"] = strconv.FormatInt(rec.BytesOut, 10)
			if tc.host != "" {
				want["server.address"] = tc.host
			}
			got := kvAttrs(sp.Attributes())
			if tc.upstream {
				if got["onbehalf.upstream.duration"] == "" {
					t.Error("span has no onbehalf.upstream.duration")
				}
				delete(got, "onbehalf.upstream.duration")
			}
			if !maps.Equal(got, want) {
				t.Errorf("span attributes\n got %v\nwant %v", got, want)
			}
			assertNoSecret(t, r, tok, e.Connection.Credential.AccessToken, e.Connection.Credential.RefreshToken)
		})
	}
}

// The user id is a span attribute only when RecordUser asks for it, and
// never a metric attribute.
func TestRecordUser(t *testing.T) {
	for _, record := range []bool{false, true} {
		r := newRig(t, otelobserver.Config{RecordUser: record})
		e := r.env(t, onbehalftest.EnvOptions{})
		r.do(t, get(t, e.ProxyURL("custom.tasklab", "tasks"), e.Token()))
		got, ok := kvAttrs(r.spans.Ended()[0].Attributes())["enduser.id"]
		if ok != record || (record && got != e.User) {
			t.Errorf("RecordUser %v: enduser.id %q (set %v)", record, got, ok)
		}
		for name, m := range r.collect(t) {
			for _, s := range metricAttrSets(m) {
				if _, ok := attrs(s)["enduser.id"]; ok {
					t.Errorf("RecordUser %v: metric %s has enduser.id", record, name)
				}
			}
		}
	}
}

// Under a span of the host application (otelhttp's server span) the
// onbehalf span is its Internal child; without one, a Server span whose
// parent comes from traceparent.
func TestSpanParent(t *testing.T) {
	t.Run("host span", func(t *testing.T) {
		r := newRig(t, otelobserver.Config{})
		e := r.env(t, onbehalftest.EnvOptions{})
		var host trace.SpanContext
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			ctx, sp := r.tp.Tracer("host").Start(req.Context(), "GET /api", trace.WithSpanKind(trace.SpanKindServer))
			defer sp.End()
			host = sp.SpanContext()
			e.Handler.ServeHTTP(w, req.WithContext(ctx))
		}))
		defer srv.Close()
		r.do(t, get(t, srv.URL+"/projects/"+e.Project+"/sdk/proxy/custom.tasklab/tasks", e.Token()))
		sp := findSpan(t, r, "onbehalf proxy custom.tasklab")
		if sp.SpanKind() != trace.SpanKindInternal || sp.Parent().SpanID() != host.SpanID() || sp.SpanContext().TraceID() != host.TraceID() {
			t.Errorf("span %v parent %v, want internal child of %v", sp.SpanKind(), sp.Parent(), host)
		}
	})
	t.Run("traceparent", func(t *testing.T) {
		r := newRig(t, otelobserver.Config{Propagator: propagation.TraceContext{}})
		e := r.env(t, onbehalftest.EnvOptions{})
		req := get(t, e.ProxyURL("custom.tasklab", "tasks"), e.Token())
		req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		r.do(t, req)
		sp := findSpan(t, r, "onbehalf proxy custom.tasklab")
		if sp.SpanKind() != trace.SpanKindServer || !sp.Parent().IsRemote() ||
			sp.Parent().SpanID().String() != "00f067aa0ba902b7" || sp.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("span %v parent %v, want server child of the traceparent", sp.SpanKind(), sp.Parent())
		}
	})
}

// Records the handler cannot produce over the wire here: retries, a 5xx
// passed through without an error code, an unknown method, no route.
func TestObserveRecord(t *testing.T) {
	r := newRig(t, otelobserver.Config{})
	rec := &middleware.Record{Method: "BREW", Route: "proxy", Integration: "salesforce", Host: "x.example",
		Status: 503, Retries: 2, UpstreamLatency: 1, RequestHeader: http.Header{"Authorization": {"Bearer secret"}}}
	r.obs.Observe(context.Background(), rec)
	r.obs.Observe(context.Background(), &middleware.Record{Method: "GET", Status: 404, ErrorCode: "NOT_FOUND", ErrorSource: "proxy"})

	ms := r.collect(t)
	retries := counter(t, ms, "onbehalf.retries")
	want := map[string]string{"onbehalf.route": "proxy", "onbehalf.integration": "salesforce",
		"http.response.status_code": "503", "error.type": "503"}
	if got := attrs(retries.Attributes); retries.Value != 2 || !maps.Equal(got, want) {
		t.Errorf("onbehalf.retries = %d %v, want 2 %v", retries.Value, got, want)
	}
	spans := r.spans.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	a := kvAttrs(spans[0].Attributes())
	if a["http.request.method"] != "_OTHER" || a["onbehalf.retries"] != "2" || spans[0].Status().Code != codes.Error {
		t.Errorf("span %v %v, want method _OTHER, 2 retries, status Error", a, spans[0].Status())
	}
	if spans[1].Name() != "onbehalf" || spans[1].Status().Code != codes.Error || spans[1].Status().Description != "NOT_FOUND" {
		t.Errorf("span %q %v, want \"onbehalf\" Error NOT_FOUND", spans[1].Name(), spans[1].Status())
	}
	assertNoSecret(t, r, "secret")
}

func TestNewDefaults(t *testing.T) {
	obs, err := otelobserver.New(otelobserver.Config{})
	if err != nil || obs == nil {
		t.Fatalf("New with the global providers: %v, %v", obs, err)
	}
	obs.Observe(context.Background(), &middleware.Record{Route: "proxy", Status: 200}) // no-op providers
}

func findSpan(t *testing.T, r *rig, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, sp := range r.spans.Ended() {
		if sp.Name() == name {
			return sp
		}
	}
	t.Fatalf("no span %q", name)
	return nil
}

// assertNoSecret fails when a span name, status, attribute or event, or a
// metric attribute, contains one of secrets (user token, access and refresh
// tokens): the Record carries the request header, and tokens must not leak
// through it.
func assertNoSecret(t *testing.T, r *rig, secrets ...string) {
	t.Helper()
	var texts []string
	for _, sp := range r.spans.Ended() {
		texts = append(texts, sp.Name(), sp.Status().Description)
		for _, kv := range sp.Attributes() {
			texts = append(texts, string(kv.Key), kv.Value.Emit())
		}
		for _, ev := range sp.Events() {
			texts = append(texts, ev.Name)
			for _, kv := range ev.Attributes {
				texts = append(texts, kv.Value.Emit())
			}
		}
	}
	for _, m := range r.collect(t) {
		for _, s := range metricAttrSets(m) {
			for _, kv := range s.ToSlice() {
				texts = append(texts, string(kv.Key), kv.Value.Emit())
			}
		}
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatal("empty secret")
		}
		for _, txt := range texts {
			if strings.Contains(txt, s) {
				t.Errorf("telemetry holds a secret: %q", txt)
			}
		}
	}
}

// metricAttrSets returns the attribute sets of m's data points.
func metricAttrSets(m metricdata.Metrics) []attribute.Set {
	var out []attribute.Set
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	}
	return out
}
