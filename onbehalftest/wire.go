package onbehalftest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/response"
)

// WireConfig says where RunWireRows finds a mounted handler and how the
// router in front of it behaves.
type WireConfig struct {
	// Base is the URL under which the handler answers: the server's URL and
	// the mount prefix, without a trailing slash
	// ("http://127.0.0.1:PORT/api/onbehalf"; the server's URL alone for a
	// handler mounted at the root). Required.
	Base string
	// Redirects says that the router answers a path holding "//" (a full
	// URL in the API path) with one 307 to the cleaned "http:/host" form
	// before the handler runs, as http.ServeMux does: those rows then expect
	// exactly that redirect. False means every row expects no redirect.
	Redirects bool
	// Client sends the requests; nil means a zero http.Client. RunWireRows
	// uses a copy whose CheckRedirect records the redirects.
	Client *http.Client
}

// Bodies the TaskLab of a fresh Env answers, wrapped in {"output": ...} as
// the proxy does.
const (
	wireTasks   = `{"output":{"tasks":[{"id":1,"title":"Write the proxy","done":true},{"id":2,"title":"Ship the demo","done":false}]}}`
	wireTask1   = `{"output":{"id":1,"title":"Write the proxy","done":true}}`
	wireTask2   = `{"output":{"id":2,"title":"Ship the demo","done":false}}`
	wireRefused = `{"message":"This domain is invalid for the current integration","code":"HOST_NOT_ALLOWED","status":403}`
)

// wireRow is one request through a mounted handler, sent as the SDK sends
// it: Accept: application/json, Content-Type: auto, an SDK version and the
// user's token.
type wireRow struct {
	name, method string
	path         string            // after {base}/projects/{project}/
	body         string            // sent when not ""
	header       map[string]string // set on the request; "" removes the header
	status       int
	want         string // the JSON the handler answers, compared as JSON
	check        func(t *testing.T, h http.Header, body []byte)
}

// RunWireRows runs, as subtests, the rows of WIRE.md that any mounting must
// pass, through the handler of e mounted under cfg.Base: the bootstrap
// routes, JSON wrapped in output, bodies and methods, custom.{slug} and
// custom/{id}, X-Paragon-Proxy-Url, full URLs in raw and cleaned forms,
// refused hosts with the exact message, raw mode, upstream errors, a missing
// token and unknown routes. A framework adapter or host app adds only its own
// cases: other routes of the app, paths outside the prefix.
//
// e must come from NewEnv and be fresh: a row creates a task and expects id 3.
func RunWireRows(t *testing.T, e *Env, cfg WireConfig) {
	t.Helper()
	prefix := ""
	if u, err := url.Parse(cfg.Base); err != nil {
		t.Fatalf("onbehalftest: WireConfig.Base: %v", err)
	} else {
		prefix = u.Path
	}
	up := strings.TrimPrefix(e.UpstreamBase, "http://") // localhost:PORT/api
	rows := []wireRow{
		{name: "bootstrap me", method: "GET", path: "sdk/me", status: 200, check: func(t *testing.T, _ http.Header, b []byte) {
			var me struct {
				Integrations map[string]struct {
					Enabled bool `json:"enabled"`
				} `json:"integrations"`
			}
			if err := json.Unmarshal(b, &me); err != nil || !me.Integrations["custom.tasklab"].Enabled || len(me.Integrations) != 1 {
				t.Errorf("/sdk/me = %s, want custom.tasklab enabled", b)
			}
		}},
		{name: "bootstrap integrations", method: "GET", path: "sdk/integrations", status: 200, check: func(t *testing.T, _ http.Header, b []byte) {
			var items []struct {
				Type              string `json:"type"`
				CustomIntegration struct {
					Slug string `json:"slug"`
				} `json:"customIntegration"`
			}
			if err := json.Unmarshal(b, &items); err != nil || len(items) != 1 || items[0].Type != "custom" || items[0].CustomIntegration.Slug != "custom.tasklab" {
				t.Errorf("/sdk/integrations = %s, want one custom item with slug custom.tasklab", b)
			}
		}},
		{name: "GET JSON wrapped in output", method: "GET", path: "sdk/proxy/custom.tasklab/tasks", status: 200, want: wireTasks},
		{name: "GET custom by id", method: "GET", path: "sdk/proxy/custom/" + TaskLabID + "/tasks/2", status: 200, want: wireTask2},
		{name: "GET escaped path and query", method: "GET", path: "sdk/proxy/custom.tasklab/echo/a%20c/%C3%BC?x=1&y=a%20b", status: 200,
			check: wireEcho("GET", "/api/echo/a%20c/%C3%BC", "x=1&y=a%20b", "", "")},
		{name: "POST JSON with Content-Type auto", method: "POST", path: "sdk/proxy/custom.tasklab/echo", body: `{"title":"t"}`, status: 200,
			check: wireEcho("POST", "/api/echo", "", `{"title":"t"}`, "application/json")},
		{name: "POST creates", method: "POST", path: "sdk/proxy/custom.tasklab/tasks", body: `{"title":"through the mount"}`, status: 201,
			want: `{"output":{"id":3,"title":"through the mount","done":false}}`},
		{name: "DELETE", method: "DELETE", path: "sdk/proxy/custom.tasklab/echo/9", status: 200,
			check: wireEcho("DELETE", "/api/echo/9", "", "", "")},
		{name: "PATCH JSON", method: "PATCH", path: "sdk/proxy/custom.tasklab/echo/9?z=1", body: `{"done":true}`, status: 200,
			check: wireEcho("PATCH", "/api/echo/9", "z=1", `{"done":true}`, "application/json")},
		{name: "X-Paragon-Proxy-Url path", method: "GET", path: "sdk/proxy/custom.tasklab", header: map[string]string{"X-Paragon-Proxy-Url": "tasks/1"}, status: 200, want: wireTask1},
		{name: "X-Paragon-Proxy-Url full URL", method: "GET", path: "sdk/proxy/custom.tasklab", header: map[string]string{"X-Paragon-Proxy-Url": e.UpstreamBase + "/tasks/2"}, status: 200, want: wireTask2},
		{name: "GET full URL", method: "GET", path: "sdk/proxy/custom.tasklab/http://" + up + "/tasks/1", status: 200, want: wireTask1},
		{name: "POST full URL with body", method: "POST", path: "sdk/proxy/custom.tasklab/http://" + up + "/echo?q=1", body: `{"title":"via full URL"}`, status: 200,
			check: wireEcho("POST", "/api/echo", "q=1", `{"title":"via full URL"}`, "application/json")},
		{name: "GET cleaned full URL", method: "GET", path: "sdk/proxy/custom.tasklab/http:/" + up + "/tasks/1", status: 200, want: wireTask1},
		{name: "POST cleaned full URL", method: "POST", path: "sdk/proxy/custom.tasklab/http:/" + up + "/echo", body: `{"a":1}`, status: 200,
			check: wireEcho("POST", "/api/echo", "", `{"a":1}`, "application/json")},
		{name: "GET refused host", method: "GET", path: "sdk/proxy/custom.tasklab/https://evil.example.com/x", status: 403, want: wireRefused},
		{name: "POST refused host", method: "POST", path: "sdk/proxy/custom.tasklab/https://evil.example.com/x", body: `{}`, status: 403, want: wireRefused},
		{name: "POST refused host, cleaned form", method: "POST", path: "sdk/proxy/custom.tasklab/https:/evil.example.com/x", body: `{}`, status: 403, want: wireRefused},
		{name: "refused IP literal", method: "GET", path: "sdk/proxy/custom.tasklab/https://127.0.0.1/x", status: 403,
			want: `{"message":"This domain is invalid for the current integration","code":"HOST_IP_LITERAL","status":403}`},
		{name: "encoded slash refused", method: "GET", path: "sdk/proxy/custom.tasklab/echo/x%2F..%2Fy", status: 400,
			want: `{"message":"Invalid API path: it must stay under the integration's base URL.","code":"PATH_INVALID","status":400}`},
		{name: "raw mode", method: "GET", path: "sdk/proxy/custom.tasklab/files/report.pdf", header: map[string]string{"X-Paragon-Use-Raw-Response": "1"}, status: 200,
			check: func(t *testing.T, h http.Header, b []byte) {
				if string(b) != string(ReportPDF) || h.Get("Content-Type") != "application/pdf" {
					t.Errorf("raw body %q (%s), want the PDF", b, h.Get("Content-Type"))
				}
			}},
		{name: "upstream 404", method: "GET", path: "sdk/proxy/custom.tasklab/tasks/999", status: 404,
			want: `{"message":"task 999 not found","code":"INTEGRATION_ERROR","status":404,"meta":{"isIntegrationError":true,"status":404,"body":{"message":"task 999 not found"}}}`},
		{name: "unknown integration", method: "GET", path: "sdk/proxy/custom.nope/tasks", status: 404,
			want: `{"message":"Unknown integration for this project.","code":"INTEGRATION_NOT_FOUND","status":404}`},
		{name: "no token", method: "GET", path: "sdk/proxy/custom.tasklab/tasks", header: map[string]string{"Authorization": ""}, status: 401},
		{name: "unknown route under the prefix", method: "GET", path: "sdk/nope", status: 404,
			want: `{"message":"No such route.","code":"NOT_FOUND","status":404}`},
		{name: "unknown route under the project", method: "GET", path: "nope", status: 404,
			want: `{"message":"No such route.","code":"NOT_FOUND","status":404}`},
	}
	base := cfg.Base + "/projects/" + e.Project + "/"
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			h := map[string]string{"Authorization": "Bearer " + e.Token()}
			for k, v := range r.header {
				h[k] = v
			}
			status, header, hops, body := wireSend(t, cfg.Client, r.method, base+r.path, r.body, h)
			var wantHops []string
			if cfg.Redirects && strings.Contains(r.path, "//") {
				wantHops = []string{"307 " + strings.Replace(prefix+"/projects/"+e.Project+"/"+r.path, "://", ":/", 1)}
			}
			if !reflect.DeepEqual(hops, wantHops) {
				t.Errorf("redirects %q, want %q", hops, wantHops)
			}
			if status != r.status {
				t.Fatalf("%s %s: status %d, want %d; body %s", r.method, r.path, status, r.status, body)
			}
			if r.want != "" && !jsonEqual(body, r.want) {
				t.Errorf("body %s\nwant %s", body, r.want)
			}
			if r.check != nil {
				r.check(t, header, body)
			}
		})
	}
}

// wireEcho checks that the upstream's echo endpoint saw the request as sent,
// with only the credential the proxy sets and no X-Paragon-* header.
func wireEcho(method, rawPath, query, body, contentType string) func(*testing.T, http.Header, []byte) {
	return func(t *testing.T, _ http.Header, b []byte) {
		t.Helper()
		var v struct {
			Output *Echo `json:"output"`
		}
		if err := json.Unmarshal(b, &v); err != nil || v.Output == nil {
			t.Fatalf("not {\"output\": <echo>}: %s", b)
		}
		e := v.Output
		if e.Method != method || e.RawPath != rawPath || e.Query != query || e.Body != body {
			t.Errorf("upstream saw %s %s ? %q body %q\nwant %s %s ? %q body %q", e.Method, e.RawPath, e.Query, e.Body, method, rawPath, query, body)
		}
		var ct []string
		if contentType != "" {
			ct = []string{contentType}
		}
		if got := e.Header["Content-Type"]; !reflect.DeepEqual(got, ct) {
			t.Errorf("upstream Content-Type = %q, want %q", got, ct)
		}
		for k, v := range e.Header {
			// The credential the proxy set comes back redacted (a provider's
			// echo of it is); anything else in Authorization is the caller's.
			proxyCred := strings.HasPrefix(v[0], "Bearer tl-at-") || v[0] == "Bearer "+response.Marker
			if strings.HasPrefix(strings.ToLower(k), "x-paragon-") || k == "Authorization" && v[0] != "" && !proxyCred {
				t.Errorf("header %s reached the upstream: %q", k, v)
			}
		}
	}
}

// wireSend makes one request as the SDK does, follows redirects, and returns
// the final status, header and body, and the redirects taken
// ("STATUS Location").
func wireSend(t *testing.T, c *http.Client, method, target, body string, header map[string]string) (int, http.Header, []string, []byte) {
	t.Helper()
	var client http.Client
	if c != nil {
		client = *c
	}
	var hops []string
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 3 {
			return fmt.Errorf("too many redirects: %q", hops)
		}
		hops = append(hops, fmt.Sprintf("%d %s", req.Response.StatusCode, req.Response.Header.Get("Location")))
		return nil
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "auto")
	req.Header.Set("X-Paragon-SDK-Version", "2.4.0")
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, hops, b
}

// jsonEqual reports whether got and want are the same JSON value.
func jsonEqual(got []byte, want string) bool {
	var a, b any
	return json.Unmarshal(got, &a) == nil && json.Unmarshal([]byte(want), &b) == nil && reflect.DeepEqual(a, b)
}
