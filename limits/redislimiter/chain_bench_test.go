package redislimiter_test

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
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/limits"
	"github.com/onbehalf/onbehalf/limits/redislimiter"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/middleware/upstream"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// BenchmarkChainLimiter puts the limiter's cost per request beside the bare
// chain, in one run: a bare httputil.ReverseProxy, the onbehalf chain with
// the limits stage off, and the chain with a static limit (per connection,
// far above what the run reaches: no request waits) held by the in-process
// limiter, by Redis with leased permits (the default) and by Redis with one
// round trip per permit. The upstream answers from memory (no socket), so
// the differences are the chain's and the limiter's own work. redis-rt/op
// is the Redis commands sent per request, counted by a client hook.
//
//	go test ./ -run '^$' -bench ChainLimiter -benchmem
func BenchmarkChainLimiter(b *testing.B) {
	needRedis(b, redisAddr())
	prefix := fmt.Sprintf("bench:limits:chain:%d:", time.Now().UnixNano())
	cases := []struct {
		name    string
		limits  func(b *testing.B, hook *countHook) (upstream.LimitsConfig, bool) // false: no static limit
		bareRP  bool
		leasing time.Duration
	}{
		{name: "bare-reverseproxy", bareRP: true},
		{name: "chain-limits-off", limits: func(*testing.B, *countHook) (upstream.LimitsConfig, bool) {
			return upstream.LimitsConfig{Disabled: true}, false
		}},
		{name: "chain-local", limits: func(*testing.B, *countHook) (upstream.LimitsConfig, bool) {
			return upstream.LimitsConfig{Limiter: limits.NewLocal()}, true
		}},
		{name: "chain-redis-lease", limits: func(b *testing.B, h *countHook) (upstream.LimitsConfig, bool) {
			return upstream.LimitsConfig{Limiter: benchRedis(b, prefix+"l:", h, 0)}, true
		}},
		{name: "chain-redis-nolease", limits: func(b *testing.B, h *countHook) (upstream.LimitsConfig, bool) {
			return upstream.LimitsConfig{Limiter: benchRedis(b, prefix+"n:", h, -1)}, true
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			hook := &countHook{}
			var h http.Handler
			var req *http.Request
			if c.bareRP {
				target, _ := url.Parse("http://localhost:1/api")
				h = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }, Transport: memUpstream{}, BufferPool: benchPool{}}
				req = httptest.NewRequest(http.MethodGet, "/records?limit=20", nil)
			} else {
				lc, static := c.limits(b, hook)
				h, req = benchChain(b, lc, static)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{h: http.Header{}}
				for pb.Next() {
					w.reset()
					ctx, cancel := context.WithCancel(context.Background())
					h.ServeHTTP(w, req.WithContext(ctx))
					cancel()
					if w.code != http.StatusOK {
						b.Errorf("got status %d, want 200", w.code)
						return
					}
				}
			})
			b.ReportMetric(float64(hook.n.Load())/float64(b.N), "redis-rt/op")
		})
	}
}

// benchRedis is a Redis limiter whose client counts the commands it sends;
// lease is Config.LeaseWindow.
func benchRedis(b *testing.B, prefix string, hook *countHook, lease time.Duration) *redislimiter.Limiter {
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr(), PoolSize: 64})
	b.Cleanup(func() { rdb.Close() })
	// Load the scripts before counting: EVALSHA's first NOSCRIPT answer
	// and the EVAL that follows are one-off.
	l, err := redislimiter.New(redislimiter.Config{Client: rdb, Prefix: prefix, LeaseWindow: lease, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := l.Reserve(context.Background(), limits.Request{Key: "warm", Limit: limits.Limit{Rate: 1, Burst: 1}}); err != nil {
		b.Fatal(err)
	}
	rdb.AddHook(hook)
	return l
}

// benchChain is an onbehalf handler over the in-memory upstream, and the
// request to send through it. static gives the integration a per-connection
// limit far above the run's rate.
func benchChain(b *testing.B, lc upstream.LimitsConfig, static bool) (http.Handler, *http.Request) {
	signer, err := onbehalftest.NewSigner("bench-key")
	if err != nil {
		b.Fatal(err)
	}
	const project = "proj-bench"
	store := tokens.NewMemoryStore()
	if err := store.Save(context.Background(), &tokens.Connection{Project: project, User: "user-1", Integration: "custom.bench",
		Credential: tokens.Credential{AccessToken: "at-123", TokenType: "Bearer", Expiry: time.Now().Add(24 * time.Hour)}}); err != nil {
		b.Fatal(err)
	}
	in := onbehalftest.TaskLabIntegration("http://localhost:1/api", "cid", "secret")
	in.Slug, in.ID, in.Name = "bench", "", "Bench"
	if static {
		in.RateLimits = &integrations.RateLimitInfo{Limits: []integrations.StaticLimit{
			{Scope: integrations.ScopeConnection, Requests: 1_000_000_000, PeriodMs: 1000, Burst: 1_000_000_000}}}
	}
	h, err := middleware.New(middleware.Config{
		Projects: []middleware.ProjectConfig{{ID: project, Keys: []middleware.KeyConfig{signer.KeyConfig()},
			Integrations: []integrations.Config{in}}},
		Store:     store,
		Forwarder: upstream.Config{RoundTripper: memUpstream{}, Limits: lc},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	r := httptest.NewRequest(http.MethodGet, "/projects/"+project+"/sdk/proxy/custom.bench/records?limit=20", nil)
	r.Header.Set("Authorization", "Bearer "+signer.MustToken(project, "user-1"))
	return h, r
}

// countHook counts the commands a Redis client sends (a pipeline counts
// once: one round trip).
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// benchBody is the upstream's answer: a page of records of a few KB.
var benchBody = []byte(`{"records":[` + strings.TrimSuffix(strings.Repeat(`{"id":"0035g00000000001AAA","name":"Contact","email":"c@example.com"},`, 40), ",") + `]}`)

// memUpstream answers every request without a socket.
type memUpstream struct{}

func (memUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}, "Content-Length": {strconv.Itoa(len(benchBody))}},
		ContentLength: int64(len(benchBody)),
		Body:          io.NopCloser(bytes.NewReader(benchBody)),
		Request:       r,
	}, nil
}

// benchPool gives the bare proxy a copy-buffer pool like the chain's, so
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

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct {
	h    http.Header
	code int
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
	return len(p), nil
}

func (w *discardWriter) Flush() {}
func (w *discardWriter) reset() { clear(w.h); w.code = 0 }
