package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/middleware"
)

// routeURL fills a management route's path parameters.
func routeURL(base, path string) string {
	r := strings.NewReplacer("{project}", project, "{user}", "user-1", "{integration}", slugKey, "{id}", "c1")
	return base + r.Replace(path)
}

// bodyFor returns a valid body for the route's method, so that only the key
// decides the answer.
func bodyFor(rt manageRoute) string {
	switch rt.name {
	case "import":
		return `{"integration": "custom.tasklab", "credential": {"accessToken": "a"}}`
	case "metadata.put":
		return `{"meta": {}}`
	}
	return ""
}

// TestManageKeys: every authenticated route refuses a missing key, a wrong
// key, a key in another scheme, and (write routes) a read-only key, with
// 401/403 JSON and stable codes. Defends the management API's access.
func TestManageKeys(t *testing.T) {
	s := newTestServer(t)
	for _, rt := range manageRoutes {
		if rt.scope == "" {
			continue
		}
		t.Run(rt.method+" "+rt.name, func(t *testing.T) {
			u := routeURL(s.URL, rt.path)
			for _, tc := range []struct {
				auth, code string
				status     int
			}{
				{"", "MANAGE_KEY_MISSING", 401},
				{bearer("wrong-key"), "MANAGE_KEY_INVALID", 401},
				{bearer(writeKey + "x"), "MANAGE_KEY_INVALID", 401},
				{"Basic " + writeKey, "MANAGE_KEY_INVALID", 401},
				{"Bearer", "MANAGE_KEY_INVALID", 401},
			} {
				st, b := call(t, rt.method, u, tc.auth, bodyFor(rt))
				if st != tc.status || errCode(b) != tc.code {
					t.Errorf("auth %q: got %d %s, want %d %s", tc.auth, st, b, tc.status, tc.code)
				}
			}
			st, b := call(t, rt.method, u, bearer(readKey), bodyFor(rt))
			if rt.scope == scopeWrite {
				if st != 403 || errCode(b) != "MANAGE_SCOPE_DENIED" {
					t.Errorf("read key on a write route: got %d %s", st, b)
				}
			} else if st == 401 || st == 403 {
				t.Errorf("read key on a read route: got %d %s", st, b)
			}
			// The bearer scheme is case-insensitive (RFC 7235).
			if st, b := call(t, rt.method, u, "bearer "+writeKey, bodyFor(rt)); st == 401 || st == 403 {
				t.Errorf("write key: got %d %s", st, b)
			}
		})
	}
	// An unknown project: 404 after authentication.
	st, b := call(t, "GET", s.URL+"/manage/v1/projects/nope/users/u/connections", bearer(readKey), "")
	if st != 404 || errCode(b) != "PROJECT_NOT_FOUND" {
		t.Errorf("unknown project: %d %s", st, b)
	}
	// Unknown route and method: JSON 404/405.
	if st, b := call(t, "GET", s.URL+"/manage/v1/nothing", bearer(readKey), ""); st != 404 || errCode(b) != "NOT_FOUND" {
		t.Errorf("unknown route: %d %s", st, b)
	}
	if st, b := call(t, "PATCH", routeURL(s.URL, userPath+"/metadata"), bearer(writeKey), ""); st != 405 || errCode(b) != "METHOD_NOT_ALLOWED" {
		t.Errorf("unknown method: %d %s", st, b)
	}
	if strings.Contains(s.logs.String(), writeKey) || strings.Contains(s.logs.String(), readKey) {
		t.Error("a management key reached the log")
	}
}

// TestManageBodies: malformed bodies answer 400 BAD_REQUEST, oversized ones
// 413 REQUEST_TOO_LARGE, on every route that reads a body.
func TestManageBodies(t *testing.T) {
	s := newTestServer(t)
	for _, rt := range manageRoutes {
		if bodyFor(rt) == "" {
			continue
		}
		u := routeURL(s.URL, rt.path)
		for name, body := range map[string]string{
			"not json":      `integration=x`,
			"truncated":     `{"meta": {`,
			"array":         `[1, 2]`,
			"unknown field": `{"meta": {}, "extra": 1}`,
			"wrong type":    `{"integration": 5, "meta": 5}`,
			"trailing":      bodyFor(rt) + ` {}`,
			"empty object":  `{}`,
		} {
			st, b := call(t, rt.method, u, bearer(writeKey), body)
			if st != 400 || errCode(b) != "BAD_REQUEST" {
				t.Errorf("%s %s: got %d %s, want 400 BAD_REQUEST", rt.name, name, st, b)
			}
		}
		big := `{"meta": {"x": "` + strings.Repeat("a", 70<<10) + `"}}`
		if rt.name == "import" {
			big = `{"integration": "custom.tasklab", "credential": {"accessToken": "` + strings.Repeat("a", 70<<10) + `"}}`
		}
		if st, b := call(t, rt.method, u, bearer(writeKey), big); st != 413 || errCode(b) != "REQUEST_TOO_LARGE" {
			t.Errorf("%s oversized: got %d %s, want 413", rt.name, st, b)
		}
	}
}

type view struct {
	Integration string `json:"integration"`
	ID          string `json:"id"`
	Status      string `json:"status"`
	Credential  struct {
		Set       []string   `json:"set"`
		ExpiresAt *time.Time `json:"expiresAt"`
	} `json:"credential"`
	Fields map[string]string `json:"fields"`
}

func importConn(t *testing.T, base, user, id, access, refresh string) view {
	t.Helper()
	body := fmt.Sprintf(`{"integration": %q, "id": %q, "credential": {"accessToken": %q, "refreshToken": %q, "expiresAt": %q}, "fields": {"region": "eu"}}`,
		slugKey, id, access, refresh, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	st, b := call(t, "POST", base+"/manage/v1/projects/"+project+"/users/"+user+"/connections", bearer(writeKey), body)
	if st != 201 {
		t.Fatalf("import: %d %s", st, b)
	}
	var v view
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestManageConnections: import, get, list with pagination, proxied use of
// the imported credential, verification, delete with revocation; no answer
// carries a credential's secret.
func TestManageConnections(t *testing.T) {
	s := newTestServer(t)
	base := s.URL + "/manage/v1/projects/" + project + "/users/user-1/connections"
	v := importConn(t, s.URL, "user-1", "c1", "access-0", "refresh-0")
	if v.ID != "c1" || v.Status != "active" || strings.Join(v.Credential.Set, ",") != "accessToken,refreshToken" ||
		v.Credential.ExpiresAt == nil || v.Fields["region"] != "eu" {
		t.Fatalf("import answer %+v", v)
	}
	// The same id again: 409.
	st, b := call(t, "POST", base, bearer(writeKey), `{"integration": "custom.tasklab", "id": "c1", "credential": {"accessToken": "z"}}`)
	if st != 409 || errCode(b) != "CONNECTION_EXISTS" {
		t.Fatalf("duplicate import: %d %s", st, b)
	}
	// Unknown integration, missing credential.
	if st, b := call(t, "POST", base, bearer(writeKey), `{"integration": "tasklab", "credential": {"accessToken": "z"}}`); st != 404 || errCode(b) != "INTEGRATION_NOT_FOUND" {
		t.Fatalf("unknown integration: %d %s", st, b)
	}
	if st, b := call(t, "POST", base, bearer(writeKey), `{"integration": "custom.keyed", "credential": {"accessToken": "z"}}`); st != 400 {
		t.Fatalf("api-key integration without apiKey: %d %s", st, b)
	}

	// A base URL template's field is required.
	tenantBase := strings.Replace(base, "/users/user-1/", "/users/user-t/", 1)
	if st, b := call(t, "POST", tenantBase, bearer(writeKey), `{"integration": "custom.tenant", "credential": {"apiKey": "k"}}`); st != 400 ||
		!strings.Contains(string(b), "fields.tenant is required") {
		t.Fatalf("import without a template field: %d %s", st, b)
	}
	if st, b := call(t, "POST", tenantBase, bearer(writeKey), `{"integration": "custom.tenant", "credential": {"apiKey": "k"}, "fields": {"tenant": "acme"}}`); st != 201 {
		t.Fatalf("import with the template field: %d %s", st, b)
	}

	// The imported credential works through the proxy.
	tok := s.signer.MustToken(project, "user-1")
	st, b = call(t, "GET", s.URL+"/projects/"+project+"/sdk/proxy/"+slugKey+"/tasks", bearer(tok), "")
	if st != 200 || !strings.Contains(string(b), `"tasks"`) {
		t.Fatalf("proxied call: %d %s", st, b)
	}

	st, b = call(t, "GET", base+"/"+slugKey+"/c1", bearer(readKey), "")
	if st != 200 {
		t.Fatalf("get: %d %s", st, b)
	}
	for _, secret := range []string{"access-0", "refresh-0", "client-secret-value"} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("get answered a secret: %s", b)
		}
	}
	if st, b := call(t, "GET", base+"/"+slugKey+"/nope", bearer(readKey), ""); st != 404 || errCode(b) != "CONNECTION_NOT_FOUND" {
		t.Fatalf("get unknown: %d %s", st, b)
	}

	// Pagination: 5 connections, pages of 2.
	for i := 2; i <= 5; i++ {
		importConn(t, s.URL, "user-1", fmt.Sprintf("c%d", i), "access-x", "refresh-x")
	}
	var ids []string
	cursor, pages := "", 0
	for {
		u := base + "?limit=2"
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		st, b := call(t, "GET", u, bearer(readKey), "")
		if st != 200 {
			t.Fatalf("list: %d %s", st, b)
		}
		var page struct {
			Connections []view `json:"connections"`
			NextCursor  string `json:"nextCursor"`
		}
		_ = json.Unmarshal(b, &page)
		pages++
		for _, c := range page.Connections {
			ids = append(ids, c.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if strings.Join(ids, ",") != "c1,c2,c3,c4,c5" || pages != 3 {
		t.Fatalf("pages %d, ids %v", pages, ids)
	}
	for _, q := range []string{"?limit=0", "?limit=201", "?limit=x", "?cursor=%%%", "?cursor=bm90IGpzb24"} {
		if st, b := call(t, "GET", base+q, bearer(readKey), ""); st != 400 || errCode(b) != "BAD_REQUEST" {
			t.Errorf("list %s: %d %s", q, st, b)
		}
	}

	// Verification: the provider's /api/me with the current token is 200; a
	// connection whose token the provider refuses answers ok:false.
	st, b = call(t, "POST", base+"/"+slugKey+"/c1/verify", bearer(writeKey), "")
	if st != 200 || !strings.Contains(string(b), `"ok":true`) {
		t.Fatalf("verify: %d %s", st, b)
	}
	st, b = call(t, "POST", base+"/"+slugKey+"/c2/verify", bearer(writeKey), "")
	if st != 200 || !strings.Contains(string(b), `"providerStatus":401`) {
		t.Fatalf("verify of a refused token: %d %s", st, b)
	}
	importKeyed := `{"integration": "custom.keyed", "id": "k1", "credential": {"apiKey": "secret-api-key"}}`
	if st, b := call(t, "POST", base, bearer(writeKey), importKeyed); st != 201 || strings.Contains(string(b), "secret-api-key") {
		t.Fatalf("import api key: %d %s", st, b)
	}
	if st, b := call(t, "POST", base+"/custom.keyed/k1/verify", bearer(writeKey), ""); st != 409 || errCode(b) != "VERIFICATION_UNAVAILABLE" {
		t.Fatalf("verify without a verify request: %d %s", st, b)
	}

	// Delete revokes the refresh token at the provider, at the revocation
	// URL expanded for the connection ({region}).
	st, b = call(t, "DELETE", base+"/"+slugKey+"/c1", bearer(writeKey), "")
	if st != 200 || !strings.Contains(string(b), `"revocation":"revoked"`) {
		t.Fatalf("delete: %d %s", st, b)
	}
	s.p.mu.Lock()
	revoked := strings.Join(s.p.revoked, ",")
	s.p.mu.Unlock()
	if revoked != "refresh-0@eu" {
		t.Fatalf("revoked %q, want refresh-0@eu", revoked)
	}
	if st, _ := call(t, "GET", base+"/"+slugKey+"/c1", bearer(readKey), ""); st != 404 {
		t.Fatalf("get after delete: %d", st)
	}
	if st, b := call(t, "DELETE", base+"/custom.keyed/k1", bearer(writeKey), ""); st != 200 || !strings.Contains(string(b), `"revocation":"none"`) {
		t.Fatalf("delete without revocation: %d %s", st, b)
	}
	for _, secret := range []string{"access-0", "refresh-0", "secret-api-key", "client-secret-value"} {
		if strings.Contains(s.logs.String(), secret) {
			t.Fatalf("a secret reached the log: %s", secret)
		}
	}
}

// TestManageMetadata: PUT replaces, GET reads; the SDK's GET /sdk/me shows
// it and its PATCH merges into the same store.
func TestManageMetadata(t *testing.T) {
	s := newTestServer(t)
	u := s.URL + "/manage/v1/projects/" + project + "/users/user-1/metadata"
	if st, b := call(t, "GET", u, bearer(readKey), ""); st != 200 || string(b) != `{"meta":{}}`+"\n" && string(b) != `{"meta":{}}` {
		t.Fatalf("empty: %d %s", st, b)
	}
	if st, b := call(t, "PUT", u, bearer(writeKey), `{"meta": {"plan": "pro"}}`); st != 200 {
		t.Fatalf("put: %d %s", st, b)
	}
	tok := s.signer.MustToken(project, "user-1")
	me := s.URL + "/projects/" + project + "/sdk/me"
	if st, b := call(t, "GET", me, bearer(tok), ""); st != 200 || !strings.Contains(string(b), `"meta":{"plan":"pro"}`) {
		t.Fatalf("/sdk/me: %d %s", st, b)
	}
	if st, b := call(t, "PATCH", me, bearer(tok), `{"meta": {"seats": 3}}`); st != 200 {
		t.Fatalf("PATCH /sdk/me: %d %s", st, b)
	}
	st, b := call(t, "GET", u, bearer(readKey), "")
	var got struct{ Meta map[string]any }
	_ = json.Unmarshal(b, &got)
	if st != 200 || got.Meta["plan"] != "pro" || got.Meta["seats"] != float64(3) {
		t.Fatalf("after PATCH: %d %s", st, b)
	}
	if st, b := call(t, "PUT", u, bearer(writeKey), `{"meta": {"x": "`+strings.Repeat("a", 63<<10)+`", "y": "`+strings.Repeat("b", 1<<10)+`"}}`); st != 413 {
		t.Fatalf("put over the cap: %d %s", st, b)
	}
}

// TestHealthAndMetrics: /healthz and /readyz answer; /metrics is not on the
// main listener; the metrics handler counts proxied requests by integration
// and status, and management requests.
func TestHealthAndMetrics(t *testing.T) {
	s := newTestServer(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		if st, b := call(t, "GET", s.URL+p, "", ""); st != 200 {
			t.Fatalf("%s: %d %s", p, st, b)
		}
	}
	if st, _ := call(t, "GET", s.URL+"/metrics", "", ""); st == 200 {
		t.Fatal("/metrics is served on the main listener")
	}
	importConn(t, s.URL, "user-1", "c1", "access-0", "refresh-0")
	tok := s.signer.MustToken(project, "user-1")
	call(t, "GET", s.URL+"/projects/"+project+"/sdk/proxy/"+slugKey+"/tasks", bearer(tok), "")
	ms := newMetricsServer(t, s.server)
	st, b := call(t, "GET", ms+"/metrics", "", "")
	out := string(b)
	for _, want := range []string{
		`onbehalf_requests_total{integration="custom.tasklab",route="proxy",status="200"} 1`,
		`onbehalf_request_duration_seconds_count{integration="custom.tasklab",route="proxy",status="200"} 1`,
		`onbehalf_manage_requests_total{route="import",status="201"} 1`,
	} {
		if st != 200 || !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestMetricsLabels: an integration key the config does not define is
// counted as "other", so label values stay a bounded set.
func TestMetricsLabels(t *testing.T) {
	m := newMetrics(map[string]bool{"slack": true})
	m.Observe(t.Context(), &middleware.Record{Route: "proxy", Integration: "slack", Status: 200})
	m.Observe(t.Context(), &middleware.Record{Route: "proxy", Integration: "made-up-123", Status: 404})
	_, b := call(t, "GET", httptestServer(t, m.handler())+"/metrics", "", "")
	out := string(b)
	if !strings.Contains(out, `onbehalf_requests_total{integration="slack",route="proxy",status="200"} 1`) ||
		!strings.Contains(out, `onbehalf_requests_total{integration="other",route="proxy",status="404"} 1`) || strings.Contains(out, "made-up-123") {
		t.Fatalf("labels:\n%s", out)
	}
}

func newMetricsServer(t *testing.T, s *server) string {
	hs := httptestServer(t, s.metrics.handler())
	return hs
}

var _ http.Handler = (*http.ServeMux)(nil)

// TestProviderCallsGuarded: verification and revocation dial through the
// hosts guard. An integration whose name resolves to loopback and whose
// config does not list it in allowAddresses reaches nothing: the verify
// answers 502 VERIFICATION_FAILED, the delete revokes nothing ("failed")
// and still deletes. Defends against SSRF through the management API.
func TestProviderCallsGuarded(t *testing.T) {
	s := newTestServer(t)
	base := s.URL + "/manage/v1/projects/" + project + "/users/user-1/connections"
	body := `{"integration": "custom.unguarded", "id": "g1", "credential": {"accessToken": "access-0", "refreshToken": "refresh-g"}}`
	if st, b := call(t, "POST", base, bearer(writeKey), body); st != 201 {
		t.Fatalf("import: %d %s", st, b)
	}
	if st, b := call(t, "POST", base+"/custom.unguarded/g1/verify", bearer(writeKey), ""); st != 502 || errCode(b) != "VERIFICATION_FAILED" {
		t.Fatalf("verify to a denied address: %d %s", st, b)
	}
	st, b := call(t, "DELETE", base+"/custom.unguarded/g1", bearer(writeKey), "")
	if st != 200 || !strings.Contains(string(b), `"revocation":"failed"`) {
		t.Fatalf("delete: %d %s", st, b)
	}
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if len(s.p.revoked) != 0 || s.p.apiCalls != 0 {
		t.Fatalf("the provider was reached: revoked %v, api calls %d", s.p.revoked, s.p.apiCalls)
	}
}

// TestConnectMounted: the connect flow and the portal are served under the
// public URL; a key entered through connect is a connection the management
// API lists.
func TestConnectMounted(t *testing.T) {
	s := newTestServer(t)
	tok := s.signer.MustToken(project, "user-c")
	st, b := call(t, "POST", s.URL+"/projects/"+project+"/sdk/connect/custom.keyed/credentials", bearer(tok), `{"apiKey": "entered-key"}`)
	if st != 201 && st != 200 {
		t.Fatalf("connect credentials: %d %s", st, b)
	}
	st, b = call(t, "GET", s.URL+"/manage/v1/projects/"+project+"/users/user-c/connections", bearer(readKey), "")
	if st != 200 || !strings.Contains(string(b), `"integration":"custom.keyed"`) || strings.Contains(string(b), "entered-key") {
		t.Fatalf("list after connect: %d %s", st, b)
	}
	st, b = call(t, "GET", s.URL+"/projects/"+project+"/sdk/portal", "", "")
	if st != 200 || !strings.Contains(string(b), "<html") {
		t.Fatalf("portal: %d %.200s", st, b)
	}
}
