package echoadapter_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/onbehalf/onbehalf/middleware/echoadapter"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

const taskLabID = "11111111-2222-4333-8444-555555555555" // onbehalftest.TaskLabIntegration's id

// mounting is one way an Echo app mounts the handler.
type mounting struct {
	name   string
	prefix string // where the handler answers
	build  func(e *echo.Echo, h http.Handler)
}

var mountings = []mounting{
	{"group", "/api/integrations", func(e *echo.Echo, h http.Handler) { echoadapter.Mount(e.Group("/api/integrations"), h) }},
	{"group with a parameter", "/t/acme/ob", func(e *echo.Echo, h http.Handler) { echoadapter.Mount(e.Group("/t/:tenant/ob"), h) }},
	{"nested groups", "/api/v1/ob", func(e *echo.Echo, h http.Handler) { echoadapter.Mount(e.Group("/api").Group("/v1/ob"), h) }},
	{"root group", "", func(e *echo.Echo, h http.Handler) { echoadapter.Mount(e.Group(""), h) }},
	{"Handler on a wildcard route", "/direct", func(e *echo.Echo, h http.Handler) { e.Any("/direct/*", echoadapter.Handler(h)) }},
}

const (
	wantTasks = `{"output":{"tasks":[{"id":1,"title":"Write the proxy","done":true},{"id":2,"title":"Ship the demo","done":false}]}}`
	wantTask1 = `{"output":{"id":1,"title":"Write the proxy","done":true}}`
	wantTask2 = `{"output":{"id":2,"title":"Ship the demo","done":false}}`
	refused   = `{"message":"This domain is invalid for the current integration","code":"HOST_NOT_ALLOWED","status":403}`
)

type mountCase struct {
	name, method, path string // path after {prefix}/projects/{project}/sdk/
	body               string // sent with Content-Type: auto, as the SDK does
	header             map[string]string
	status             int
	want               string // JSON, compared as JSON
	check              func(t *testing.T, resp *http.Response, body []byte)
}

func echoed(method, rawPath, query, body, contentType string) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, _ *http.Response, b []byte) {
		t.Helper()
		var v struct{ Output *onbehalftest.Echo }
		if err := json.Unmarshal(b, &v); err != nil || v.Output == nil {
			t.Fatalf("not {\"output\": <echo>}: %s", b)
		}
		e := v.Output
		if e.Method != method || e.RawPath != rawPath || e.Query != query || e.Body != body {
			t.Errorf("upstream saw %s %s ? %q body %q; want %s %s ? %q body %q", e.Method, e.RawPath, e.Query, e.Body, method, rawPath, query, body)
		}
		var ct []string
		if contentType != "" {
			ct = []string{contentType}
		}
		if !reflect.DeepEqual(e.Header["Content-Type"], ct) {
			t.Errorf("upstream Content-Type %q, want %q", e.Header["Content-Type"], ct)
		}
		for k := range e.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-paragon-") || k == "Authorization" && e.Header[k][0] != "" && !strings.HasPrefix(e.Header[k][0], "Bearer tl-at-") {
				t.Errorf("header %s reached the upstream: %q", k, e.Header[k])
			}
		}
	}
}

func TestMount(t *testing.T) {
	for _, m := range mountings {
		t.Run(m.name, func(t *testing.T) {
			env := onbehalftest.NewEnv(t)
			e := echo.New()
			e.HideBanner = true
			e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
			m.build(e, env.Handler)
			srv := httptest.NewServer(e)
			t.Cleanup(srv.Close)
			upstream := strings.TrimPrefix(env.UpstreamBase, "http://") // localhost:PORT/api

			cases := []mountCase{
				{name: "sdk/me", method: "GET", path: "me", status: 200, check: func(t *testing.T, _ *http.Response, b []byte) {
					var me struct {
						Integrations map[string]struct{ Enabled bool }
					}
					if err := json.Unmarshal(b, &me); err != nil || !me.Integrations["custom.tasklab"].Enabled {
						t.Errorf("/sdk/me = %s, want custom.tasklab enabled", b)
					}
				}},
				{name: "sdk/integrations", method: "GET", path: "integrations", status: 200, check: func(t *testing.T, _ *http.Response, b []byte) {
					var items []struct {
						Type              string
						CustomIntegration struct{ Slug string }
					}
					if err := json.Unmarshal(b, &items); err != nil || len(items) != 1 || items[0].CustomIntegration.Slug != "custom.tasklab" {
						t.Errorf("/sdk/integrations = %s", b)
					}
				}},
				{name: "GET JSON wrapped in output", method: "GET", path: "proxy/custom.tasklab/tasks", status: 200, want: wantTasks},
				{name: "custom by id", method: "GET", path: "proxy/custom/" + taskLabID + "/tasks/2", status: 200, want: wantTask2},
				{name: "POST with body", method: "POST", path: "proxy/custom.tasklab/echo", body: `{"title":"t"}`, status: 200,
					check: echoed("POST", "/api/echo", "", `{"title":"t"}`, "application/json")},
				{name: "POST creates", method: "POST", path: "proxy/custom.tasklab/tasks", body: `{"title":"from echo"}`, status: 201,
					want: `{"output":{"id":3,"title":"from echo","done":false}}`},
				{name: "escaped path and query", method: "GET", path: "proxy/custom.tasklab/echo/a%20c/%C3%BC?x=1&y=a%20b", status: 200,
					check: echoed("GET", "/api/echo/a%20c/%C3%BC", "x=1&y=a%20b", "", "")},
				{name: "X-Paragon-Proxy-Url path", method: "GET", path: "proxy/custom.tasklab", header: map[string]string{"X-Paragon-Proxy-Url": "tasks/1"}, status: 200, want: wantTask1},
				{name: "X-Paragon-Proxy-Url full URL", method: "GET", path: "proxy/custom.tasklab", header: map[string]string{"X-Paragon-Proxy-Url": env.UpstreamBase + "/tasks/2"}, status: 200, want: wantTask2},
				{name: "full URL", method: "GET", path: "proxy/custom.tasklab/http://" + upstream + "/tasks/1", status: 200, want: wantTask1},
				{name: "POST full URL", method: "POST", path: "proxy/custom.tasklab/http://" + upstream + "/echo?q=1", body: `{"a":1}`, status: 200,
					check: echoed("POST", "/api/echo", "q=1", `{"a":1}`, "application/json")},
				{name: "cleaned full URL", method: "GET", path: "proxy/custom.tasklab/http:/" + upstream + "/tasks/1", status: 200, want: wantTask1},
				{name: "refused host https://", method: "GET", path: "proxy/custom.tasklab/https://evil.example.com/x", status: 403, want: refused},
				{name: "refused host https:/", method: "POST", path: "proxy/custom.tasklab/https:/evil.example.com/x", body: `{}`, status: 403, want: refused},
				{name: "refused IP literal", method: "GET", path: "proxy/custom.tasklab/https://127.0.0.1/x", status: 403,
					want: `{"message":"This domain is invalid for the current integration","code":"HOST_IP_LITERAL","status":403}`},
				{name: "encoded slash refused", method: "GET", path: "proxy/custom.tasklab/echo/x%2F..%2Fy", status: 400,
					want: `{"message":"Invalid API path: it must stay under the integration's base URL.","code":"PATH_INVALID","status":400}`},
				{name: "raw mode", method: "GET", path: "proxy/custom.tasklab/files/report.pdf", header: map[string]string{"X-Paragon-Use-Raw-Response": "1"}, status: 200,
					check: func(t *testing.T, resp *http.Response, b []byte) {
						if !bytes.Equal(b, onbehalftest.ReportPDF) || resp.Header.Get("Content-Type") != "application/pdf" {
							t.Errorf("raw body %q (%s), want the PDF", b, resp.Header.Get("Content-Type"))
						}
					}},
				{name: "no token", method: "GET", path: "proxy/custom.tasklab/tasks", header: map[string]string{"Authorization": ""}, status: 401},
				{name: "unknown route under the prefix", method: "GET", path: "nope", status: 404,
					want: `{"message":"No such route.","code":"NOT_FOUND","status":404}`},
			}
			base := srv.URL + m.prefix + "/projects/" + env.Project + "/sdk/"
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					h := map[string]string{"Authorization": "Bearer " + env.Token()}
					for k, v := range c.header {
						h[k] = v
					}
					resp, body := send(t, c.method, base+c.path, c.body, h)
					if resp.StatusCode != c.status {
						t.Fatalf("%s %s: %d, want %d; body %s", c.method, c.path, resp.StatusCode, c.status, body)
					}
					if c.want != "" && !jsonEqual(body, c.want) {
						t.Errorf("body %s\nwant %s", body, c.want)
					}
					if c.check != nil {
						c.check(t, resp, body)
					}
				})
			}
			t.Run("other routes of the app", func(t *testing.T) {
				resp, body := send(t, "GET", srv.URL+"/healthz", "", nil)
				if resp.StatusCode != 200 || string(body) != "ok" {
					t.Errorf("GET /healthz: %d %q", resp.StatusCode, body)
				}
			})
			if m.prefix != "" {
				t.Run("not served outside the prefix", func(t *testing.T) {
					resp, body := send(t, "GET", srv.URL+"/projects/"+env.Project+"/sdk/me", "", map[string]string{"Authorization": "Bearer " + env.Token()})
					if resp.StatusCode != 404 || bytes.Contains(body, []byte("NOT_FOUND")) {
						t.Errorf("outside the prefix: %d %s, want Echo's 404", resp.StatusCode, body)
					}
				})
			}
		})
	}
}

// send makes one request as the SDK does and refuses to follow redirects:
// a redirect from the framework would turn a POST into a GET.
func send(t *testing.T, method, target, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
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
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		t.Fatalf("%s %s: the framework redirected: %d %s", method, target, resp.StatusCode, resp.Header.Get("Location"))
	}
	return resp, b
}

func jsonEqual(got []byte, want string) bool {
	var a, b any
	return json.Unmarshal(got, &a) == nil && json.Unmarshal([]byte(want), &b) == nil && reflect.DeepEqual(a, b)
}
