package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// recordsJSON is a realistic JSON answer of a few KB: a page of CRM records.
func recordsJSON() []byte {
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
}

// pattern is the block generated streams repeat.
var pattern = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i*31 + i>>8)
	}
	return b
}()

// genReader yields n bytes of pattern without holding them: a generated
// stream, not a file.
type genReader struct{ off, n int64 }

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	if rest := g.n - g.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	k := 0
	for k < len(p) {
		k += copy(p[k:], pattern[int((g.off+int64(k))%int64(len(pattern))):])
	}
	g.off += int64(k)
	return k, nil
}

// upstream is the local provider: a JSON page, a binary file, a generated
// download of any size and a sink for uploads.
func upstream(records, file []byte) http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /api/records", func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{strconv.Itoa(len(records))}
		h["X-Request-Id"] = []string{"req-8c1f"}
		_, _ = w.Write(records)
	})
	m.HandleFunc("GET /api/files/report.bin", func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/octet-stream"}
		h["Content-Length"] = []string{strconv.Itoa(len(file))}
		_, _ = w.Write(file)
	})
	m.HandleFunc("GET /api/big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		_, _ = io.Copy(w, &genReader{n: n})
	})
	m.HandleFunc("PUT /api/sink", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int64{"received": n})
	})
	return m
}

// serve serves h on a fresh loopback port and returns its base URL.
func serve(h http.Handler) (base string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }
}

// transport returns an HTTP/1.1 transport with the pool sizes of
// hosts.NewTransport (the bare proxy's), or sized for the load (the client).
func transport(idlePerHost int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(512, idlePerHost)
	t.MaxIdleConnsPerHost = idlePerHost
	t.DisableCompression = true
	return t
}

// bareProxy is the floor: httputil.ReverseProxy with Rewrite SetURL, the
// same pool sizes as hosts.NewTransport, and a copy-buffer pool like the
// Forwarder's (without one, every request allocates a 32 KiB buffer).
func bareProxy(upstreamBase string) http.Handler {
	target, _ := url.Parse(upstreamBase)
	return &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport:  transport(64),
		BufferPool: bufPool{},
		ErrorLog:   quietLog,
	}
}

type bufPool struct{}

var bufs = make(chan []byte, 1024)

func (bufPool) Get() []byte {
	select {
	case b := <-bufs:
		return b
	default:
		return make([]byte, 32<<10)
	}
}

func (bufPool) Put(b []byte) {
	select {
	case bufs <- b:
	default:
	}
}

// env is the full onbehalf chain in front of the upstream.
type env struct {
	handler *middleware.Handler
	project string
	tokens  []string // one user token per user
}

const project = "proj-bench"

// newEnv builds the chain: one project with an RS256 key, one OAuth2
// integration (custom.bench) on the loopback upstream, users connections in
// a memory store (wrapped in tokens.Cached when cached). timeout is
// Forwarder.Timeout (0: its default).
func newEnv(upstreamBase string, users int, tokenCache, cached bool, large bool, timeout time.Duration) (*env, error) {
	signer, err := onbehalftest.NewSigner("bench-key")
	if err != nil {
		return nil, err
	}
	mem := tokens.NewMemoryStore()
	var store tokens.Store = mem
	if cached {
		if store, err = tokens.NewCached(mem, tokens.CachedConfig{}); err != nil {
			return nil, err
		}
	}
	e := &env{project: project}
	for i := range users {
		user := fmt.Sprintf("user-%d", i)
		c := &tokens.Connection{Project: project, User: user, Integration: "custom.bench",
			Credential: tokens.Credential{AccessToken: "at-" + user, RefreshToken: "rt-" + user, TokenType: "Bearer",
				Expiry: time.Now().Add(24 * time.Hour)}}
		if err := mem.Save(context.Background(), c); err != nil {
			return nil, err
		}
		e.tokens = append(e.tokens, signer.MustToken(project, user, onbehalftest.TokenOptions{TTL: 12 * time.Hour}))
	}
	in := onbehalftest.TaskLabIntegration(onbehalftest.LocalhostURL(upstreamBase)+"/api", "bench-client", "bench-secret")
	in.Slug, in.ID, in.Name = "bench", "", "Bench"
	cfg := middleware.Config{
		Projects: []middleware.ProjectConfig{{ID: project, Keys: []middleware.KeyConfig{signer.KeyConfig()},
			Integrations: []integrations.Config{in}}},
		Store: store,
	}
	cfg.Forwarder.ErrorLog = quietLog
	if !tokenCache {
		disableTokenCache(&cfg)
	}
	cfg.Forwarder.Timeout = timeout
	if large {
		cfg.Forwarder.MaxRequestBytes = -1 // no cap: the 1 GiB upload
		if timeout == 0 {
			cfg.Forwarder.Timeout = 10 * time.Minute
		}
	}
	if e.handler, err = middleware.New(cfg); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *env) proxyPath(apiPath string) string {
	return "/projects/" + e.project + "/sdk/proxy/custom.bench/" + apiPath
}
