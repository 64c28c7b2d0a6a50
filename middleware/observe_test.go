package middleware_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestLogObserver: one JSON log line per request, with the documented fields,
// header values redacted by the allowlist, and no secret.
func TestLogObserver(t *testing.T) {
	var logs onbehalftest.LogBuffer
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey, Prefix: "Bearer "})},
		func(c *middleware.Config) {
			c.Observer = &middleware.LogObserver{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
		})
	connect(t, e, "api", tokens.Credential{APIKey: "sk_live_provider_secret"}, nil)
	token := e.Token()
	auth := http.Header{"Authorization": {"Bearer " + token}, "Cookie": {"sid=host-session"}, "Accept": {"application/json"}}
	readBody(t, e.Do(t, "GET", e.ProxyURL("api", "things?limit=1"), nil, auth))
	readBody(t, e.Do(t, "GET", e.ProxyURL("api", "https://evil.example.com/x"), nil, auth))
	readBody(t, e.Do(t, "GET", e.ProxyURL("api", "x"), nil, http.Header{"Authorization": {"Bearer not-a-jwt"}}))
	rec.setReply(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	readBody(t, e.Do(t, "GET", e.ProxyURL("api", "x"), nil, auth))

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d log lines, want 4:\n%s", len(lines), logs.String())
	}
	type line struct {
		Msg, Method, Route, Project, User, Integration, Host, Mode string
		Status                                                     int
		DurationMS                                                 float64 `json:"duration_ms"`
		UpstreamMS                                                 float64 `json:"upstream_ms"`
		Bytes                                                      int64
		Retries                                                    int
		Code                                                       string            `json:"error_code"`
		Source                                                     string            `json:"error_source"`
		Header                                                     map[string]string `json:"header"`
	}
	var got []line
	for _, l := range lines {
		var x line
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		got = append(got, x)
	}
	ok := got[0]
	if ok.Msg != "onbehalf request" || ok.Method != "GET" || ok.Route != "proxy" || ok.Project != e.Project || ok.User != e.User ||
		ok.Integration != "api" || ok.Host != "localhost" || ok.Mode != "json" || ok.Status != 200 || ok.Bytes == 0 ||
		ok.UpstreamMS <= 0 || ok.Code != "" || ok.Header["Accept"] != "application/json" || ok.Header["Authorization"] != "[redacted]" ||
		ok.Header["Cookie"] != "[redacted]" {
		t.Errorf("success line: %+v", ok)
	}
	if r := got[1]; r.Status != 403 || r.Code != "HOST_NOT_ALLOWED" || r.Source != "proxy" || r.UpstreamMS != 0 {
		t.Errorf("refused-host line: %+v", r)
	}
	if r := got[2]; r.Status != 401 || r.Code != "AUTH_TOKEN_INVALID" || r.User != "" {
		t.Errorf("bad-token line: %+v", r)
	}
	if r := got[3]; r.Status != 503 || r.Code != "INTEGRATION_ERROR" || r.Source != "integration" {
		t.Errorf("upstream-error line: %+v", r)
	}
	for _, secret := range []string{token, "sk_live_provider_secret", "host-session", "not-a-jwt"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("a secret reached the log: %q", secret)
		}
	}
}

// TestObserverRecordsRetries: the Record counts retries and fans out.
func TestObserverRecordsRetries(t *testing.T) {
	rec := newRecorder(t)
	n := 0
	rec.setReply(func(w http.ResponseWriter, _ *http.Request) {
		n++
		if n == 1 {
			w.WriteHeader(503)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	})
	var mu sync.Mutex
	var seen []middleware.Record
	capture := middleware.ObserverFunc(func(_ context.Context, r *middleware.Record) {
		mu.Lock()
		seen = append(seen, *r)
		mu.Unlock()
	})
	in := localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey})
	in.Retry = integrations.RetryConfig{MaxAttempts: 2, BaseDelayMs: 1}
	e := envWith(t, []integrations.Config{in}, func(c *middleware.Config) {
		c.Observer = middleware.Observers(capture, &middleware.LogObserver{Logger: slog.New(slog.DiscardHandler)})
	})
	connect(t, e, "api", tokens.Credential{APIKey: "k"}, nil)
	readBody(t, e.Do(t, "GET", e.ProxyURL("api", "x"), nil, nil))
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0].Retries != 1 || seen[0].Status != 200 || seen[0].Duration <= 0 || seen[0].Start.After(time.Now()) {
		t.Fatalf("records %+v", seen)
	}
}

// The Observer sees the SDK bootstrap routes too.
func TestObserverBootstrapRoute(t *testing.T) {
	var got *middleware.Record
	e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{Configure: func(c *middleware.Config) {
		c.Observer = middleware.ObserverFunc(func(_ context.Context, r *middleware.Record) { cp := *r; got = &cp })
	}})
	readBody(t, e.Do(t, "GET", e.Server.URL+"/projects/"+e.Project+"/sdk/me", nil, nil))
	if got == nil || got.Route != "me" || got.Status != 200 || got.User != e.User {
		t.Fatalf("record %+v", got)
	}
}
