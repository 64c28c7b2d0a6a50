package middleware_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestRoutes covers every route row of WIRE.md: by type name, custom.{slug},
// custom/{id}, the X-Paragon-Proxy-Url header, and fully-qualified URLs in the
// raw and the cleaned (https:/host) form.
func TestRoutes(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{
		localIntegration(rec, "slack", integrations.SchemeConfig{Type: integrations.AuthAPIKey, Prefix: "Bearer "}),
		{Type: "custom", ID: "c-42", Slug: "Reports", BaseURL: rec.base + "/reports", AllowedSchemes: []string{"http"},
			AllowedPorts: []int{portOf(rec.base)}, AllowAddresses: []string{"127.0.0.0/8", "::1/128"},
			Auth: integrations.SchemeConfig{Type: integrations.AuthAPIKey, In: "query", Name: "key"}},
	})
	connect(t, e, "slack", tokens.Credential{APIKey: "xoxb-slack"}, nil)
	connect(t, e, "custom.reports", tokens.Credential{APIKey: "rep-key"}, nil)
	root := e.Server.URL + "/projects/" + e.Project + "/sdk/proxy/"
	cases := []struct {
		name     string
		url      string
		header   http.Header
		wantPath string
		wantQ    string
	}{
		{"type name, relative path", root + "slack/chat.postMessage", nil, "/base/chat.postMessage", ""},
		{"doubled slash is relative", root + "slack//v1/x", nil, "/base/v1/x", ""},
		{"protocol-relative trick refused", root + "slack///evil.example.com/x", nil, "", ""},
		{"query unchanged", root + "slack/conversations.list?limit=2&cursor=a%2Fb", nil, "/base/conversations.list", "limit=2&cursor=a%2Fb"},
		{"custom by slug", root + "custom.reports/daily", nil, "/reports/daily", "key=rep-key"},
		{"custom by slug, any case", root + "custom.REPORTS/daily", nil, "/reports/daily", "key=rep-key"},
		{"custom by id", root + "custom/c-42/daily", nil, "/reports/daily", "key=rep-key"},
		{"header target, relative", root + "slack", http.Header{"X-Paragon-Proxy-Url": {"/users.info?user=U1"}}, "/base/users.info", "user=U1"},
		{"header target, full URL", root + "slack", http.Header{"X-Paragon-Proxy-Url": {rec.base + "/other/thing"}}, "/other/thing", ""},
		{"full URL in the path", root + "slack/" + rec.base + "/v4/sheets", nil, "/v4/sheets", ""},
		{"cleaned full URL in the path", root + "slack/" + strings.Replace(rec.base, "://", ":/", 1) + "/v4/sheets", nil, "/v4/sheets", ""},
		{"encoded path kept encoded", root + "slack/files/a%20b%2Bc.txt", nil, "/base/files/a%20b%2Bc.txt", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := rec.count.Load()
			resp := e.Do(t, "GET", tc.url, nil, tc.header)
			body := readBody(t, resp)
			if tc.wantPath == "" { // "//" after the integration is a protocol-relative trick
				if resp.StatusCode < 400 || rec.count.Load() != before {
					t.Fatalf("got %d %s, want an error and nothing forwarded", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != 200 || string(body) != `{"output":{"ok":true}}` {
				t.Fatalf("got %d %s", resp.StatusCode, body)
			}
			got := rec.last(t)
			if got.RawPath != tc.wantPath {
				t.Errorf("upstream path %q, want %q", got.RawPath, tc.wantPath)
			}
			if got.Query != tc.wantQ {
				t.Errorf("upstream query %q, want %q", got.Query, tc.wantQ)
			}
		})
	}
}

// TestMethodsForwarded: every HTTP method is accepted and forwarded as is.
func TestMethodsForwarded(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey})})
	connect(t, e, "api", tokens.Credential{APIKey: "k"}, nil)
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "PROPFIND"} {
		resp := e.Do(t, m, e.ProxyURL("api", "things/1"), nil, nil)
		readBody(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", m, resp.StatusCode)
		}
		if got := rec.last(t).Method; got != m {
			t.Errorf("upstream method %s, want %s", got, m)
		}
	}
}

// TestCredentialSchemes: each scheme puts the credential where the provider
// expects it, on the outbound request only.
func TestCredentialSchemes(t *testing.T) {
	rec := newRecorder(t)
	mk := func(typ string, a integrations.SchemeConfig, headers map[string]string) integrations.Config {
		c := localIntegration(rec, typ, a)
		c.Headers = headers
		return c
	}
	e := envWith(t, []integrations.Config{
		mk("bearer", integrations.SchemeConfig{Type: integrations.AuthOAuth2, TokenURL: "http://localhost:1/token"}, nil),
		mk("keyheader", integrations.SchemeConfig{Type: integrations.AuthAPIKey, Name: "X-Api-Key"}, nil),
		mk("keyprefix", integrations.SchemeConfig{Type: integrations.AuthAPIKey, Prefix: "Token token="}, nil),
		mk("keyquery", integrations.SchemeConfig{Type: integrations.AuthAPIKey, In: "query", Name: "api_key"}, nil),
		mk("basic", integrations.SchemeConfig{Type: integrations.AuthBasic}, nil),
		mk("templated", integrations.SchemeConfig{Type: integrations.AuthNone},
			map[string]string{"X-Account": "{account}", "X-Signature": "key={credential.api_key}", "Notion-Version": "2022-06-28"}),
	})
	connect(t, e, "bearer", tokens.Credential{AccessToken: "at-1", Expiry: time.Now().Add(hour)}, nil)
	connect(t, e, "keyheader", tokens.Credential{APIKey: "k-1"}, nil)
	connect(t, e, "keyprefix", tokens.Credential{APIKey: "k-2"}, nil)
	connect(t, e, "keyquery", tokens.Credential{APIKey: "k 3"}, nil)
	connect(t, e, "basic", tokens.Credential{Username: "ann", Password: "p:w"}, nil)
	connect(t, e, "templated", tokens.Credential{APIKey: "k-4"}, map[string]string{"account": "acct-9"})
	cases := []struct {
		integration string
		header      string
		want        string
		query       string
	}{
		{"bearer", "Authorization", "Bearer at-1", "q=1"},
		{"keyheader", "X-Api-Key", "k-1", "q=1"},
		{"keyprefix", "Authorization", "Token token=k-2", "q=1"},
		{"keyquery", "Authorization", "", "api_key=k+3&q=1"},
		{"basic", "Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("ann:p:w")), "q=1"},
		{"templated", "X-Account", "acct-9", "q=1"},
		{"templated", "X-Signature", "key=k-4", "q=1"},
		{"templated", "Notion-Version", "2022-06-28", "q=1"},
	}
	for _, tc := range cases {
		t.Run(tc.integration+"/"+tc.header, func(t *testing.T) {
			resp := e.Do(t, "GET", e.ProxyURL(tc.integration, "x?q=1"), nil, nil)
			readBody(t, resp)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := rec.last(t)
			if v := got.Header.Get(tc.header); v != tc.want {
				t.Errorf("%s = %q, want %q", tc.header, v, tc.want)
			}
			if got.Query != tc.query {
				t.Errorf("query %q, want %q", got.Query, tc.query)
			}
		})
	}
}

// TestHeadersNotForwarded: the user token, cookies, X-Paragon-*, forwarding
// headers, "Content-Type: auto" and hop-by-hop headers never reach the
// provider, and a client's Connection header cannot strip the credential.
func TestHeadersNotForwarded(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey, Prefix: "Bearer "})})
	connect(t, e, "api", tokens.Credential{APIKey: "provider-key"}, nil)
	token := e.Token()
	resp := e.Do(t, "POST", e.ProxyURL("api", "x"), str(`{"a":1}`), http.Header{
		"Authorization":              {"Bearer " + token},
		"Cookie":                     {"session=host-app-session"},
		"Content-Type":               {"auto"},
		"X-Paragon-Sdk-Version":      {"2.4.0"},
		"X-Paragon-Use-Raw-Response": {"0"},
		"X-Forwarded-For":            {"10.0.0.1"},
		"Forwarded":                  {"for=10.0.0.1"},
		"Connection":                 {"Authorization, X-Keep"},
		"X-Keep":                     {"hop"},
		"Te":                         {"trailers"},
		"Proxy-Authorization":        {"Basic eDp5"},
		"Accept":                     {"application/json"},
		"X-Custom":                   {"kept"},
	})
	readBody(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := rec.last(t)
	if v := got.Header.Get("Authorization"); v != "Bearer provider-key" {
		t.Errorf("Authorization = %q, want the provider credential", v)
	}
	for _, k := range []string{"Cookie", "X-Paragon-Sdk-Version", "X-Paragon-Use-Raw-Response", "X-Forwarded-For", "Forwarded", "X-Keep", "Proxy-Authorization"} {
		if v, ok := got.Header[k]; ok {
			t.Errorf("%s forwarded: %q", k, v)
		}
	}
	if got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q, want application/json resolved from auto", got.Header.Get("Content-Type"))
	}
	if got.Header.Get("X-Custom") != "kept" || got.Header.Get("Accept") != "application/json" {
		t.Errorf("ordinary headers lost: %v", got.Header)
	}
	for k, vs := range got.Header {
		for _, v := range vs {
			if strings.Contains(v, token) {
				t.Fatalf("the user token reached the provider in %s", k)
			}
		}
	}
	if got.Body != `{"a":1}` {
		t.Errorf("body %q", got.Body)
	}
}

// TestContentTypes: auto resolves to JSON only when the body is JSON; other
// types (form posts, multipart, octet-stream) stream through unchanged.
func TestContentTypes(t *testing.T) {
	rec := newRecorder(t)
	in := localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey})
	in.DefaultContentType = "text/plain"
	e := envWith(t, []integrations.Config{in})
	connect(t, e, "api", tokens.Credential{APIKey: "k"}, nil)
	cases := []struct{ sent, body, want string }{
		{"auto", `{"x":[1,2]}`, "application/json"},
		{"auto", `not json`, "text/plain"},
		{"auto, application/json", `{}`, "application/json"},
		{"application/x-www-form-urlencoded", "a=1&b=2", "application/x-www-form-urlencoded"},
		{"multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--XX--\r\n", "multipart/form-data; boundary=XX"},
		{"application/octet-stream", "\x00\x01\x02", "application/octet-stream"},
	}
	for _, tc := range cases {
		resp := e.Do(t, "POST", e.ProxyURL("api", "upload"), str(tc.body), http.Header{"Content-Type": {tc.sent}})
		readBody(t, resp)
		got := rec.last(t)
		if got.Header.Get("Content-Type") != tc.want || got.Body != tc.body {
			t.Errorf("sent %q: upstream got type %q body %q, want %q", tc.sent, got.Header.Get("Content-Type"), got.Body, tc.want)
		}
	}
	// A GET with Content-Type auto and no body forwards no Content-Type.
	resp := e.Do(t, "GET", e.ProxyURL("api", "x"), nil, http.Header{"Content-Type": {"auto"}})
	readBody(t, resp)
	if v, ok := rec.last(t).Header["Content-Type"]; ok {
		t.Errorf("GET forwarded Content-Type %q", v)
	}
}

// TestResponseModes covers the JSON envelope, text, empty bodies, binary in
// JSON mode, the size cap, raw streaming and upstream errors.
func TestResponseModes(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey})},
		func(c *middleware.Config) { c.Forwarder.Response.MaxJSONBytes = 1024 })
	connect(t, e, "api", tokens.Credential{APIKey: "k"}, nil)
	reply := func(status int, ctype, body string, extra ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			if ctype != "" {
				w.Header().Set("Content-Type", ctype)
			}
			for i := 0; i+1 < len(extra); i += 2 {
				w.Header().Add(extra[i], extra[i+1])
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}
	raw := http.Header{"X-Paragon-Use-Raw-Response": {"true"}}
	cases := []struct {
		name       string
		reply      http.HandlerFunc
		header     http.Header
		wantStatus int
		wantBody   string
		wantCode   string
	}{
		{"json wrapped", reply(200, "application/json", `{"a":1}`), nil, 200, `{"output":{"a":1}}`, ""},
		{"json array, status kept", reply(201, "application/json; charset=utf-8", `[1,2]`), nil, 201, `{"output":[1,2]}`, ""},
		{"vendor json", reply(200, "application/vnd.api+json", `{"data":null}`), nil, 200, `{"output":{"data":null}}`, ""},
		{"text as a string", reply(200, "text/plain", `hello "you"`), nil, 200, `{"output":"hello \"you\""}`, ""},
		{"text that looks like JSON stays text", reply(200, "text/plain", `true`), nil, 200, `{"output":"true"}`, ""},
		{"empty stays empty", reply(200, "application/json", ``), nil, 200, ``, ""},
		{"no content", reply(204, "", ``), nil, 204, ``, ""},
		{"binary asks for raw", reply(200, "image/png", "\x89PNG\r\n\x1a\n\x00"), nil, 406, "", "USE_RAW_RESPONSE"},
		{"over the cap", reply(200, "application/json", `"`+strings.Repeat("x", 2000)+`"`), nil, 502, "", "RESPONSE_TOO_LARGE"},
		{"upstream error", reply(404, "application/json", `{"message":"no such thing"}`), nil, 404, "", "INTEGRATION_ERROR"},
		{"upstream 5xx text", reply(503, "text/plain", `down`), nil, 503, "", "INTEGRATION_ERROR"},
		{"raw binary", reply(200, "image/png", "\x89PNG\r\n\x1a\n\x00"), raw, 200, "\x89PNG\r\n\x1a\n\x00", ""},
		{"raw error unchanged", reply(404, "text/html", `<h1>nope</h1>`), raw, 404, `<h1>nope</h1>`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec.setReply(tc.reply)
			resp := e.Do(t, "GET", e.ProxyURL("api", "x"), nil, tc.header)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantCode != "" {
				b := errorBody(t, resp)
				if b.Code != tc.wantCode {
					t.Fatalf("code %q, want %q", b.Code, tc.wantCode)
				}
				if tc.wantCode == "INTEGRATION_ERROR" != b.IsIntegrationError() {
					t.Errorf("meta.isIntegrationError = %v", b.IsIntegrationError())
				}
				wantSource := "proxy"
				if b.IsIntegrationError() {
					wantSource = "integration"
				}
				if got := resp.Header.Get("X-Onbehalf-Error-Source"); got != wantSource {
					t.Errorf("error source %q, want %q", got, wantSource)
				}
				return
			}
			if body := readBody(t, resp); string(body) != tc.wantBody {
				t.Fatalf("body %q, want %q", body, tc.wantBody)
			}
		})
	}
}

// TestIntegrationErrorMeta: the upstream body comes back inside meta.
func TestIntegrationErrorMeta(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey})})
	connect(t, e, "api", tokens.Credential{APIKey: "k"}, nil)
	rec.setReply(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(429)
		_, _ = io.WriteString(w, `{"error":{"message":"slow down","code":"rate_limited"}}`)
	})
	resp := e.Do(t, "GET", e.ProxyURL("api", "x"), nil, nil)
	var b struct {
		Message string `json:"message"`
		Status  int    `json:"status"`
		Meta    struct {
			IsIntegrationError bool            `json:"isIntegrationError"`
			Status             int             `json:"status"`
			Body               json.RawMessage `json:"body"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(readBody(t, resp), &b); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 429 || b.Status != 429 || !b.Meta.IsIntegrationError || b.Message != "slow down" ||
		string(b.Meta.Body) != `{"error":{"message":"slow down","code":"rate_limited"}}` || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("got %d %+v (Retry-After %q)", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
}

// TestRawModeHeaders: in raw mode the provider's headers stream through,
// minus those that would act on the host app's origin.
func TestRawModeHeaders(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey})})
	connect(t, e, "api", tokens.Credential{APIKey: "k"}, nil)
	rec.setReply(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/pdf")
		h.Set("Content-Disposition", `attachment; filename="a.pdf"`)
		h.Set("ETag", `"v1"`)
		h.Set("Set-Cookie", "provider=1; Domain=example.com")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Strict-Transport-Security", "max-age=1")
		h.Set("WWW-Authenticate", "Basic")
		_, _ = io.WriteString(w, "%PDF")
	})
	resp := e.Do(t, "GET", e.ProxyURL("api", "file"), nil, http.Header{"X-Paragon-Use-Raw-Response": {"1"}})
	readBody(t, resp)
	for _, k := range []string{"Set-Cookie", "Access-Control-Allow-Origin", "Strict-Transport-Security", "Www-Authenticate"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("%s passed through in raw mode: %q", k, v)
		}
	}
	if resp.Header.Get("Content-Disposition") == "" || resp.Header.Get("Etag") != `"v1"` || resp.Header.Get("Content-Type") != "application/pdf" {
		t.Errorf("provider headers lost: %v", resp.Header)
	}
}
