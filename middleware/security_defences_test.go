package middleware_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// These tests each hold one SECURITY.md defence that no other test saw go:
// each was checked by removing the defence from the code and watching it
// fail (security/mutants.sh does that on every run).

// TestSecurityTokenSizeCap defends against resource exhaustion and parser
// attacks through the user token: a token over MaxTokenBytes (8 KiB) is
// refused by its size alone, even when it is validly signed, so the cap is
// what refuses it rather than a failed parse.
func TestSecurityTokenSizeCap(t *testing.T) {
	e := onbehalftest.NewEnv(t)
	big := e.Token(onbehalftest.TokenOptions{Claims: map[string]any{"pad": strings.Repeat("p", 9<<10)}})
	if len(big) <= 8192 || len(big) > 16<<10 {
		t.Fatalf("token of %d bytes, want just over 8 KiB", len(big))
	}
	resp := e.Do(t, "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, http.Header{"Authorization": {"Bearer " + big}})
	if b := errorBody(t, resp); resp.StatusCode != 401 || b.Code != "AUTH_TOKEN_INVALID" {
		t.Fatalf("signed 9 KiB token: got %d %+v, want 401 AUTH_TOKEN_INVALID", resp.StatusCode, b)
	}
	if n := e.TaskLab.APICalls(); n != 0 {
		t.Fatalf("the provider got %d calls", n)
	}
	// A smaller pad (about 7 KiB once encoded) is accepted: the size is the reason.
	small := e.Token(onbehalftest.TokenOptions{Claims: map[string]any{"pad": strings.Repeat("p", 5<<10)}})
	resp = e.Do(t, "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, http.Header{"Authorization": {"Bearer " + small}})
	if body := readBody(t, resp); resp.StatusCode != 200 {
		t.Fatalf("signed 7 KiB token: got %d %s", resp.StatusCode, body)
	}
}

// TestSecurityTokenNotFromQuery defends against user tokens in URLs (where
// access logs, browser history and Referer headers leak them): a valid token
// in ?access_token= (or ?token=) is not a credential; only the Authorization
// header is read, and the provider is never called.
func TestSecurityTokenNotFromQuery(t *testing.T) {
	e := onbehalftest.NewEnv(t)
	tok := e.Token()
	for _, param := range []string{"access_token", "token", "jwt"} {
		req, err := http.NewRequest("GET", e.ProxyURL("custom.tasklab", "tasks")+"?"+param+"="+url.QueryEscape(tok), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if b := errorBody(t, resp); resp.StatusCode != 401 || b.Code != "AUTH_TOKEN_MISSING" {
			t.Fatalf("?%s=<valid token>: got %d %+v, want 401 AUTH_TOKEN_MISSING", param, resp.StatusCode, b)
		}
	}
	if n := e.TaskLab.APICalls(); n != 0 {
		t.Fatalf("the provider got %d calls", n)
	}
}

// TestSecurityHostHeaderNotForwarded defends against Host-header attacks on
// the provider (virtual-host confusion, cache poisoning, routing to another
// tenant): the client's Host names the proxy, and the provider must see the
// target's host whatever the client sent.
func TestSecurityHostHeaderNotForwarded(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey})})
	connect(t, e, "api", tokens.Credential{APIKey: "k"}, nil)
	want := strings.TrimPrefix(rec.base, "http://")
	for _, host := range []string{"", "evil.example", "internal-admin.local:8080"} {
		req, err := http.NewRequest("GET", e.ProxyURL("api", "x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e.Token())
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != 200 {
			t.Fatalf("Host %q: got %d %s", host, resp.StatusCode, body)
		}
		if got := rec.last(t).Host; got != want {
			t.Fatalf("client Host %q: the provider saw Host %q, want %q", host, got, want)
		}
	}
}

// TestSecurityOriginRefererNotForwarded defends against leaking the host
// app's origin and page URLs (which may hold ids or tokens in their query) to
// the provider, and against a provider's CSRF checks being satisfied or
// tripped by the browser's Origin: neither Origin nor Referer is forwarded.
func TestSecurityOriginRefererNotForwarded(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey})})
	connect(t, e, "api", tokens.Credential{APIKey: "k"}, nil)
	resp := e.Do(t, "POST", e.ProxyURL("api", "x"), str(`{}`), http.Header{
		"Content-Type": {"application/json"},
		"Origin":       {"https://app.example"},
		"Referer":      {"https://app.example/settings?session=secret-session-id"},
		"origin":       {"https://lower.example"}, // a hand-built spelling
	})
	if body := readBody(t, resp); resp.StatusCode != 200 {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	got := rec.last(t).Header
	for _, k := range []string{"Origin", "Referer"} {
		if v, ok := got[k]; ok {
			t.Errorf("the provider received %s: %q", k, v)
		}
	}
}

// TestSecurityNoRefreshOn403 defends against a refresh-token burn (and a
// replay of a non-idempotent request) on an answer that does not mean "this
// access token is stale": only a 401 refreshes and replays; a 403 is the
// provider's answer, passed on, with one upstream call and no token-endpoint
// call.
func TestSecurityNoRefreshOn403(t *testing.T) {
	rec := newRecorder(t)
	var tokenCalls atomic.Int64
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tokenCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"fresh-at","refresh_token":"fresh-rt","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(tokenSrv.Close)
	in := localIntegration(rec, "oa", integrations.SchemeConfig{Type: integrations.AuthOAuth2,
		TokenURL: tokenSrv.URL + "/token", ClientID: "cid", ClientSecret: "secret"})
	e := envWith(t, []integrations.Config{in})
	connect(t, e, "oa", tokens.Credential{AccessToken: "old-at", RefreshToken: "old-rt", TokenType: "Bearer",
		Expiry: time.Now().Add(time.Hour)}, nil)
	rec.setReply(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer fresh-at" {
			w.WriteHeader(200)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(403)
		_, _ = io.WriteString(w, `{"error":"insufficient_scope"}`)
	})
	resp := e.Do(t, "POST", e.ProxyURL("oa", "things"), str(`{"n":1}`), http.Header{"Content-Type": {"application/json"}})
	body := readBody(t, resp)
	if resp.StatusCode == 200 {
		t.Fatalf("a 403 was refreshed and replayed: got %d %s", resp.StatusCode, body)
	}
	if n := tokenCalls.Load(); n != 0 {
		t.Fatalf("token endpoint called %d times on a 403, want 0", n)
	}
	if n := rec.count.Load(); n != 1 {
		t.Fatalf("the provider got %d calls, want 1 (no replay)", n)
	}
	// A 401 does refresh and replay once: the test above is not vacuous.
	rec.setReply(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer fresh-at" {
			w.WriteHeader(204)
			return
		}
		w.WriteHeader(401)
	})
	resp = e.Do(t, "GET", e.ProxyURL("oa", "things"), nil, nil)
	if body := readBody(t, resp); resp.StatusCode != 204 || tokenCalls.Load() != 1 {
		t.Fatalf("401: got %d %s after %d token calls", resp.StatusCode, body, tokenCalls.Load())
	}
}

// TestSecurityRedirectDropsQueryKey defends against an API key in the query
// string following a redirect to another origin (with followRedirects): the
// hop to the other origin is sent without the key parameter, while the
// client's own query parameters stay.
func TestSecurityRedirectDropsQueryKey(t *testing.T) {
	a, b := newRecorder(t), newRecorder(t)
	in := localIntegration(a, "qk", integrations.SchemeConfig{Type: integrations.AuthAPIKey, In: "query", Name: "api_key"})
	in.AllowedPorts = []int{portOf(a.base), portOf(b.base)}
	in.FollowRedirects = 2
	e := envWith(t, []integrations.Config{in})
	connect(t, e, "qk", tokens.Credential{APIKey: "provider-query-key"}, nil)
	a.setReply(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", b.base+"/elsewhere?"+r.URL.RawQuery)
		w.WriteHeader(302)
	})
	resp := e.Do(t, "GET", e.ProxyURL("qk", "start?page=2"), nil, nil)
	if body := readBody(t, resp); resp.StatusCode != 200 {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	if q := a.last(t).Query; !strings.Contains(q, "api_key=provider-query-key") {
		t.Fatalf("the original origin got query %q, want the key", q)
	}
	hop := b.last(t)
	if strings.Contains(hop.Query, "provider-query-key") || strings.Contains(hop.Query, "api_key") {
		t.Fatalf("the other origin got the API key in its query: %q", hop.Query)
	}
	if !strings.Contains(hop.Query, "page=2") {
		t.Fatalf("the other origin lost the client's query: %q", hop.Query)
	}
}

// TestSecurityTokenEndpointAuthDefault defends against the client secret
// travelling in the request body (logged by token endpoints and proxies,
// and a second style tried on failure presents a rotating refresh token
// twice): an integration that leaves authStyle empty authenticates to the
// token endpoint with HTTP basic only, in one call.
func TestSecurityTokenEndpointAuthDefault(t *testing.T) {
	rec := newRecorder(t)
	type call struct {
		user, pass string
		basic      bool
		form       url.Values
	}
	var mu sync.Mutex
	var calls []call
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		u, p, ok := r.BasicAuth()
		mu.Lock()
		calls = append(calls, call{u, p, ok, r.PostForm})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"fresh-at","refresh_token":"fresh-rt","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(tokenSrv.Close)
	in := localIntegration(rec, "oa", integrations.SchemeConfig{Type: integrations.AuthOAuth2,
		TokenURL: tokenSrv.URL + "/token", ClientID: "cid", ClientSecret: "the-client-secret"}) // AuthStyle: ""
	e := envWith(t, []integrations.Config{in})
	connect(t, e, "oa", tokens.Credential{AccessToken: "old-at", RefreshToken: "old-rt", TokenType: "Bearer",
		Expiry: time.Now().Add(-time.Minute)}, nil)
	resp := e.Do(t, "GET", e.ProxyURL("oa", "x"), nil, nil)
	if body := readBody(t, resp); resp.StatusCode != 200 {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	if got := rec.last(t).Header.Get("Authorization"); got != "Bearer fresh-at" {
		t.Fatalf("provider Authorization %q, want the refreshed token", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 {
		t.Fatalf("token endpoint calls %d, want 1", len(calls))
	}
	c := calls[0]
	if !c.basic || c.user != "cid" || c.pass != "the-client-secret" {
		t.Fatalf("token endpoint auth: basic %v (%q), want HTTP basic with the client credentials", c.basic, c.user)
	}
	if c.form.Has("client_secret") || c.form.Has("client_id") {
		t.Fatalf("client credentials in the body: %v", keys(c.form))
	}
}

// TestSecurityProviderCannotSpeakForProxy defends against a provider forging
// the proxy's own X-Onbehalf-* headers (error source and code, which callers
// trust to tell a proxy refusal from a provider answer): they are dropped
// from provider answers in raw and JSON mode, under any spelling.
func TestSecurityProviderCannotSpeakForProxy(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey})})
	connect(t, e, "api", tokens.Credential{APIKey: "k"}, nil)
	for _, status := range []int{200, 404} {
		rec.setReply(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-Onbehalf-Error-Source", "proxy")
			w.Header().Set("X-Onbehalf-Error-Code", "HOST_NOT_ALLOWED")
			w.Header().Set("X-Onbehalf-Forged", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"ok":false}`)
		})
		for _, raw := range []string{"1", "0"} {
			resp := e.Do(t, "GET", e.ProxyURL("api", "x"), nil, http.Header{"X-Paragon-Use-Raw-Response": {raw}})
			readBody(t, resp)
			if resp.Header.Get("X-Onbehalf-Forged") != "" || resp.Header.Get("X-Onbehalf-Error-Code") == "HOST_NOT_ALLOWED" ||
				resp.Header.Get("X-Onbehalf-Error-Source") == "proxy" {
				t.Errorf("status %d raw=%s: the provider's X-Onbehalf-* headers reached the caller: %v", status, raw, resp.Header)
			}
		}
	}
}

func keys(v url.Values) []string {
	var ks []string
	for k := range v {
		ks = append(ks, k)
	}
	return ks
}

// TestSecurityUserTokenNotForwarded defends against the user token (and the
// host app's facts about the client) reaching the provider: with an API key
// in its own header the credential does not replace Authorization, so only
// the filter keeps the caller's bearer token, X-Real-Ip and Cookie away.
func TestSecurityUserTokenNotForwarded(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "hk", integrations.SchemeConfig{Type: integrations.AuthAPIKey, Name: "X-Api-Key"})})
	connect(t, e, "hk", tokens.Credential{APIKey: "provider-key"}, nil)
	tok := e.Token()
	resp := e.Do(t, "GET", e.ProxyURL("hk", "x"), nil, http.Header{
		"Authorization": {"Bearer " + tok},
		"X-Real-Ip":     {"10.1.2.3"},
		"Cookie":        {"session=host-app-session"},
	})
	if body := readBody(t, resp); resp.StatusCode != 200 {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	got := rec.last(t).Header
	if v := got.Get("X-Api-Key"); v != "provider-key" {
		t.Fatalf("X-Api-Key %q, want the provider key", v)
	}
	for _, k := range []string{"Authorization", "X-Real-Ip", "Cookie"} {
		if v, ok := got[k]; ok {
			t.Errorf("the provider received %s: %q", k, v)
		}
	}
	for k, vs := range got {
		for _, v := range vs {
			if strings.Contains(v, tok) {
				t.Errorf("the user token reached the provider in %s", k)
			}
		}
	}
}
