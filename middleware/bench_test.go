package middleware_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/middleware/upstream"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// The benchmarks below measure the proxy's own cost side by side with a bare
// httputil.ReverseProxy in front of the same loopback upstream. The handler is
// called directly (no client socket, a discarding ResponseWriter), so the
// numbers are the proxy's work plus one upstream round trip:
//
//	go test ./middleware/ -run '^$' -bench 'Chain|Bare' -benchmem
//	go test ./middleware/ -run '^$' -bench ChainJSON -cpuprofile cpu.out -memprofile mem.out
//	go tool pprof -top cpu.out

// benchJSON is a realistic JSON answer of a few KB: a page of CRM records.
var benchJSON = func() []byte {
	var b bytes.Buffer
	b.WriteString(`{"records":[`)
	for i := range 20 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"0035g00000%06dAAA","name":"Contact %d","email":"contact%d@example.com",`+
			`"title":"Account Executive","phone":"+1 415 555 %04d","createdAt":"2024-05-%02dT10:%02d:00Z",`+
			`"owner":{"id":"0055g0000%06d","name":"Owner %d"},"tags":["lead","west","q%d"],"score":%d.5}`,
			i, i, i, i, i%28+1, i%60, i, i, i%4+1, i*7)
	}
	b.WriteString(`],"done":true,"totalSize":20,"nextRecordsUrl":null}`)
	return b.Bytes()
}()

type benchSetup struct {
	upstream *httptest.Server
	base     string // http://localhost:PORT
	chain    http.Handler
	bare     http.Handler
	token    string
	project  string
}

func newBenchSetup(b *testing.B) *benchSetup {
	return newBenchSetupWith(b, nil)
}

// newBenchSetupWith builds the setup; a non-nil rt replaces the upstream
// transport of both the chain and the bare proxy, and mod (when set) adjusts
// the integration and the handler's configuration.
func newBenchSetupWith(b *testing.B, rt http.RoundTripper, mod ...func(*integrations.Config, *middleware.Config)) *benchSetup {
	b.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(benchJSON)))
		w.Header().Set("X-Request-Id", "req-1")
		_, _ = w.Write(benchJSON)
	}))
	b.Cleanup(up.Close)
	s := &benchSetup{upstream: up, base: onbehalftest.LocalhostURL(up.URL), project: "proj-bench"}
	signer, err := onbehalftest.NewSigner("bench-key")
	if err != nil {
		b.Fatal(err)
	}
	s.token = signer.MustToken(s.project, "user-1")
	store := tokens.NewMemoryStore()
	if err := store.Save(context.Background(), &tokens.Connection{Project: s.project, User: "user-1", Integration: "custom.bench",
		Credential: tokens.Credential{AccessToken: "at-123", RefreshToken: "rt-123", TokenType: "Bearer", Expiry: time.Now().Add(24 * time.Hour)}}); err != nil {
		b.Fatal(err)
	}
	in := onbehalftest.TaskLabIntegration(s.base+"/api", "cid", "secret")
	in.Slug, in.ID, in.Name = "bench", "", "Bench"
	cfg := middleware.Config{Store: store, Forwarder: upstream.Config{RoundTripper: rt}}
	for _, m := range mod {
		m(&in, &cfg)
	}
	cfg.Projects = []middleware.ProjectConfig{{ID: s.project, Keys: []middleware.KeyConfig{signer.KeyConfig()},
		Integrations: []integrations.Config{in}}}
	h, err := middleware.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	s.chain = h
	target, _ := url.Parse(s.base + "/api")
	s.bare = &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport:  benchTransport(),
		BufferPool: benchPool{},
	}
	if rt != nil {
		s.bare.(*httputil.ReverseProxy).Transport = rt
	}
	return s
}

// benchTransport is the bare proxy's transport, with the pool sizes
// hosts.NewTransport uses.
func benchTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 512, 64
	t.DisableCompression = true
	return t
}

// benchPool gives the bare proxy a copy-buffer pool like the Forwarder's, so
// that the comparison is not about a 32 KiB buffer per request.
type benchPool struct{}

var benchBufs = make(chan []byte, 256)

func (benchPool) Get() []byte {
	select {
	case b := <-benchBufs:
		return b
	default:
		return make([]byte, 32<<10)
	}
}

func (benchPool) Put(b []byte) {
	select {
	case benchBufs <- b:
	default:
	}
}

// discardWriter is a ResponseWriter that keeps nothing; it is reset and
// reused across iterations.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}

// Flush makes it an http.Flusher, as net/http's own ResponseWriter is.
func (w *discardWriter) Flush() {}

func (w *discardWriter) reset() { clear(w.h); w.code, w.n = 0, 0 }

// runBench serves requests from newReq through h, each with a fresh
// cancelable context as net/http's server gives every request.
func runBench(b *testing.B, h http.Handler, newReq func() *http.Request, wantBytes int) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchJSON)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		r := newReq()
		for pb.Next() {
			w.reset()
			ctx, cancel := context.WithCancel(context.Background())
			h.ServeHTTP(w, r.WithContext(ctx))
			cancel()
			if w.code != http.StatusOK || w.n != wantBytes {
				b.Errorf("got status %d and %d bytes, want 200 and %d", w.code, w.n, wantBytes)
				return
			}
		}
	})
}

// bareRequest is the bare proxy's request: the chain's, minus the route.
func (s *benchSetup) bareRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/records?limit=20", nil)
	r.Header.Set("Authorization", "Bearer "+s.token)
	r.Header.Set("Accept", "application/json")
	return r
}

func (s *benchSetup) chainRequest(raw bool) func() *http.Request {
	return func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/projects/"+s.project+"/sdk/proxy/custom.bench/records?limit=20", nil)
		r.Header.Set("Authorization", "Bearer "+s.token)
		r.Header.Set("Accept", "application/json")
		if raw {
			r.Header.Set("X-Paragon-Use-Raw-Response", "1")
		}
		return r
	}
}

// BenchmarkBareReverseProxy is the floor: httputil.ReverseProxy with Rewrite
// SetURL and nothing else, in front of the same upstream.
func BenchmarkBareReverseProxy(b *testing.B) {
	s := newBenchSetup(b)
	runBench(b, s.bare, s.bareRequest, len(benchJSON))
}

// BenchmarkChainJSON is the full chain (router, token verification,
// integration lookup, connection load, guard, credential, envelope) in the
// default JSON mode.
func BenchmarkChainJSON(b *testing.B) {
	s := newBenchSetup(b)
	runBench(b, s.chain, s.chainRequest(false), len(benchJSON)+len(`{"output":}`))
}

// BenchmarkChainRaw is the full chain in raw mode (the body streams).
func BenchmarkChainRaw(b *testing.B) {
	s := newBenchSetup(b)
	runBench(b, s.chain, s.chainRequest(true), len(benchJSON))
}

// memUpstream answers every request with benchJSON without a socket, so the
// Overhead benchmarks measure the handlers' own work only.
type memUpstream struct{}

func (memUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}, "Content-Length": {strconv.Itoa(len(benchJSON))},
			"X-Request-Id": {"req-1"}, "Date": {"Sun, 29 Nov 2026 12:00:00 GMT"}},
		ContentLength: int64(len(benchJSON)),
		Body:          io.NopCloser(bytes.NewReader(benchJSON)),
		Request:       r,
	}, nil
}

// newOverheadSetup is the setup with memUpstream behind both proxies.
func newOverheadSetup(b *testing.B) *benchSetup { return newBenchSetupWith(b, memUpstream{}) }

// BenchmarkOverheadBare, BenchmarkOverheadJSON and BenchmarkOverheadRaw put
// the bare proxy and the chain in front of an in-memory upstream: the
// difference is the chain's own CPU and allocations per request.
func BenchmarkOverheadBare(b *testing.B) {
	s := newOverheadSetup(b)
	runBench(b, s.bare, s.bareRequest, len(benchJSON))
}

func BenchmarkOverheadJSON(b *testing.B) {
	s := newOverheadSetup(b)
	runBench(b, s.chain, s.chainRequest(false), len(benchJSON)+len(`{"output":}`))
}

func BenchmarkOverheadRaw(b *testing.B) {
	s := newOverheadSetup(b)
	runBench(b, s.chain, s.chainRequest(true), len(benchJSON))
}

// The limits stage's cost. ChainJSON and OverheadJSON run it as configured
// by default: the bench integration declares no static limit, so each
// request asks the in-process limiter for the blocks its provider's answers
// set. LimitsOff disables the stage; LimitsLocal gives the integration a
// static limit (per connection) far above what the run reaches, so every
// request takes a permit from an in-process bucket and none waits. The
// Redis limiter's cost is measured beside these in limits/redislimiter
// (BenchmarkChainLimiter):
//
//	go test ./middleware/ -run '^$' -bench 'Overhead|Limits' -benchmem

// limitsOff turns the limits stage off.
func limitsOff(_ *integrations.Config, c *middleware.Config) { c.Forwarder.Limits.Disabled = true }

// limitsLocal gives the integration a static limit that never blocks, with
// the default in-process limiter.
func limitsLocal(in *integrations.Config, _ *middleware.Config) {
	in.RateLimits = &integrations.RateLimitInfo{Limits: []integrations.StaticLimit{
		{Scope: integrations.ScopeConnection, Requests: 1_000_000_000, PeriodMs: 1000, Burst: 1_000_000_000}}}
}

func BenchmarkOverheadLimitsOff(b *testing.B) {
	s := newBenchSetupWith(b, memUpstream{}, limitsOff)
	runBench(b, s.chain, s.chainRequest(false), len(benchJSON)+len(`{"output":}`))
}

func BenchmarkOverheadLimitsLocal(b *testing.B) {
	s := newBenchSetupWith(b, memUpstream{}, limitsLocal)
	runBench(b, s.chain, s.chainRequest(false), len(benchJSON)+len(`{"output":}`))
}

func BenchmarkChainLimitsOff(b *testing.B) {
	s := newBenchSetupWith(b, nil, limitsOff)
	runBench(b, s.chain, s.chainRequest(false), len(benchJSON)+len(`{"output":}`))
}

func BenchmarkChainLimitsLocal(b *testing.B) {
	s := newBenchSetupWith(b, nil, limitsLocal)
	runBench(b, s.chain, s.chainRequest(false), len(benchJSON)+len(`{"output":}`))
}
