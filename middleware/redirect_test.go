package middleware_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestFollowRedirects: redirects are followed only when the integration opts
// in; every hop is checked like a target, and the credential never crosses
// to another origin.
func TestFollowRedirects(t *testing.T) {
	a, b := newRecorder(t), newRecorder(t)
	in := localIntegration(a, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey, Prefix: "Bearer "})
	in.AllowedPorts = []int{portOf(a.base), portOf(b.base)}
	in.FollowRedirects = 3
	e := envWith(t, []integrations.Config{in})
	connect(t, e, "api", tokens.Credential{APIKey: "provider-key"}, nil)
	redirect := func(code int, loc string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/base/start" {
				w.Header().Set("Location", loc)
				w.WriteHeader(code)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"at":"` + r.URL.Path + `","method":"` + r.Method + `"}`))
		}
	}
	okB := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"at":"b"}`))
	}
	b.setReply(okB)

	t.Run("same origin keeps the credential", func(t *testing.T) {
		a.setReply(redirect(302, "/base/next"))
		resp := e.Do(t, "GET", e.ProxyURL("api", "start"), nil, nil)
		if body := readBody(t, resp); resp.StatusCode != 200 || string(body) != `{"output":{"at":"/base/next","method":"GET"}}` {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		if got := a.last(t).Header.Get("Authorization"); got != "Bearer provider-key" {
			t.Fatalf("hop Authorization %q", got)
		}
	})
	t.Run("another origin gets no credential", func(t *testing.T) {
		a.setReply(redirect(307, b.base+"/elsewhere"))
		before := b.count.Load()
		resp := e.Do(t, "PUT", e.ProxyURL("api", "start"), str(`{"v":1}`), http.Header{"Content-Type": {"application/json"}})
		if body := readBody(t, resp); resp.StatusCode != 200 || string(body) != `{"output":{"at":"b"}}` {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		got := b.last(t)
		if b.count.Load() != before+1 || got.Header.Get("Authorization") != "" || got.Method != "PUT" || got.Body != `{"v":1}` {
			t.Fatalf("hop to b: %+v", got)
		}
	})
	t.Run("303 turns into a GET without body", func(t *testing.T) {
		a.setReply(redirect(303, "/base/result"))
		resp := e.Do(t, "POST", e.ProxyURL("api", "start"), str(`{"v":1}`), http.Header{"Content-Type": {"application/json"}})
		if body := readBody(t, resp); resp.StatusCode != 200 || string(body) != `{"output":{"at":"/base/result","method":"GET"}}` {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		if got := a.last(t); got.Body != "" || got.Header.Get("Content-Type") != "" {
			t.Fatalf("the 303 hop carried a body: %+v", got)
		}
	})
	t.Run("a hop to a refused host is never sent", func(t *testing.T) {
		a.setReply(redirect(302, "https://evil.example.com/steal"))
		resp := e.Do(t, "GET", e.ProxyURL("api", "start"), nil, nil)
		if b := errorBody(t, resp); resp.StatusCode != 403 || b.Code != "HOST_NOT_ALLOWED" {
			t.Fatalf("got %d %+v", resp.StatusCode, b)
		}
	})
	t.Run("a hop to an IP literal is refused", func(t *testing.T) {
		a.setReply(redirect(302, "http://169.254.169.254/latest/meta-data"))
		resp := e.Do(t, "GET", e.ProxyURL("api", "start"), nil, nil)
		if b := errorBody(t, resp); resp.StatusCode != 403 || b.Code != "HOST_IP_LITERAL" {
			t.Fatalf("got %d %+v", resp.StatusCode, b)
		}
	})
	t.Run("a loop stops after the limit", func(t *testing.T) {
		a.setReply(redirect(302, "/base/start"))
		before := a.count.Load()
		resp := e.Do(t, "GET", e.ProxyURL("api", "start"), nil, nil)
		if b := errorBody(t, resp); resp.StatusCode != 502 || b.Code != "INTEGRATION_ERROR" || a.count.Load() != before+4 {
			t.Fatalf("got %d %+v after %d calls", resp.StatusCode, b, a.count.Load()-before)
		}
	})
}

// TestMaxConcurrent: past the bound, a request answers 503 UPSTREAM_BUSY at
// once and is not forwarded.
func TestMaxConcurrent(t *testing.T) {
	rec := newRecorder(t)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	rec.setReply(func(w http.ResponseWriter, _ *http.Request) {
		started <- struct{}{}
		<-release
		w.WriteHeader(204)
	})
	e := envWith(t, []integrations.Config{localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey})},
		func(c *middleware.Config) { c.Forwarder.MaxConcurrent = 1 })
	connect(t, e, "api", tokens.Credential{APIKey: "k"}, nil)
	done := make(chan int)
	go func() {
		resp := e.Do(t, "GET", e.ProxyURL("api", "slow"), nil, nil)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-started
	resp := e.Do(t, "GET", e.ProxyURL("api", "second"), nil, nil)
	if b := errorBody(t, resp); resp.StatusCode != 503 || b.Code != "UPSTREAM_BUSY" || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("got %d %+v", resp.StatusCode, b)
	}
	close(release)
	if code := <-done; code != 204 || rec.count.Load() != 1 {
		t.Fatalf("first request %d, upstream calls %d", code, rec.count.Load())
	}
}

// TestMaxHeaderBytes: oversized request headers answer 431 JSON before any stage runs.
func TestMaxHeaderBytes(t *testing.T) {
	e := envWith(t, nil, func(c *middleware.Config) { c.MaxHeaderBytes = 2048 })
	resp := e.Do(t, "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, http.Header{"X-Big": {strings.Repeat("a", 3000)}})
	if b := errorBody(t, resp); resp.StatusCode != 431 || b.Code != "REQUEST_HEADERS_TOO_LARGE" || e.TaskLab.APICalls() != 0 {
		t.Fatalf("got %d %+v", resp.StatusCode, b)
	}
	resp = e.Do(t, "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, nil)
	if readBody(t, resp); resp.StatusCode != 200 {
		t.Fatalf("normal request: %d", resp.StatusCode)
	}
}
