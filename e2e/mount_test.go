package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// mounting is one way a host app mounts the handler under a path prefix.
type mounting struct {
	name string
	// prefix is where the handler answers, e.g. "/onbehalf".
	prefix string
	// cfgPrefix is middleware.Config.Prefix: set when the router does not
	// strip the prefix.
	cfgPrefix string
	// build wraps the handler in the host app's router, which also serves
	// GET /healthz (nil: the handler is served as it is).
	build func(h http.Handler) http.Handler
	// redirects: the router answers a path with "//" (a fully-qualified URL
	// in the API path) with a 307 to the cleaned "https:/host" form, before
	// the handler runs; the handler must accept that form.
	redirects bool
}

func healthz(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }

var mountings = []mounting{
	{
		name: "ServeMux+StripPrefix", prefix: "/onbehalf", redirects: true,
		build: func(h http.Handler) http.Handler {
			m := http.NewServeMux()
			m.HandleFunc("GET /healthz", healthz)
			m.Handle("/onbehalf/", http.StripPrefix("/onbehalf", h))
			return m
		},
	},
	{
		name: "gorilla/mux+SkipClean+StripPrefix", prefix: "/onbehalf",
		build: func(h http.Handler) http.Handler {
			r := mux.NewRouter().SkipClean(true)
			r.HandleFunc("/healthz", healthz).Methods(http.MethodGet)
			r.PathPrefix("/onbehalf/").Handler(http.StripPrefix("/onbehalf", h))
			return r
		},
	},
	{
		name: "chi.Mount+StripPrefix", prefix: "/onbehalf",
		build: func(h http.Handler) http.Handler {
			r := chi.NewRouter()
			r.Get("/healthz", healthz)
			r.Mount("/onbehalf", http.StripPrefix("/onbehalf", h))
			return r
		},
	},
	{
		name: "Config.Prefix", prefix: "/api/onbehalf", cfgPrefix: "/api/onbehalf",
	},
	{
		name: "Config.Prefix+ServeMux", prefix: "/api/onbehalf", cfgPrefix: "/api/onbehalf", redirects: true,
		build: func(h http.Handler) http.Handler {
			m := http.NewServeMux()
			m.HandleFunc("GET /healthz", healthz)
			m.Handle("/api/onbehalf/", h)
			return m
		},
	},
	{
		name: "Config.Prefix+gorilla/mux", prefix: "/api/onbehalf", cfgPrefix: "/api/onbehalf",
		build: func(h http.Handler) http.Handler {
			r := mux.NewRouter().SkipClean(true)
			r.HandleFunc("/healthz", healthz).Methods(http.MethodGet)
			r.PathPrefix("/api/onbehalf/").Handler(h)
			return r
		},
	},
	{
		name: "Config.Prefix+chi.Mount", prefix: "/api/onbehalf", cfgPrefix: "/api/onbehalf",
		build: func(h http.Handler) http.Handler {
			r := chi.NewRouter()
			r.Get("/healthz", healthz)
			r.Mount("/api/onbehalf", h)
			return r
		},
	},
}

// start builds an Env for m and serves the mounted handler.
func (m mounting) start(t *testing.T) (*onbehalftest.Env, *httptest.Server) {
	t.Helper()
	env := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{Configure: func(c *middleware.Config) { c.Prefix = m.cfgPrefix }})
	h := http.Handler(env.Handler)
	if m.build != nil {
		h = m.build(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return env, srv
}

// mountCase is one request through a mounted handler.
type mountCase struct {
	name   string
	method string
	path   string // after {prefix}/projects/{project}/sdk/
	body   string // sent with Content-Type: auto, as the SDK does, when not ""
	// fullURL: the path holds "//"; a redirecting router answers it with one 307.
	fullURL    bool
	wantStatus int
	// want is the JSON the handler answers (compared as JSON), or check
	// inspects it.
	want  string
	check func(t *testing.T, body []byte)
}

func outputEcho(t *testing.T, body []byte) onbehalftest.Echo {
	t.Helper()
	var v struct {
		Output *onbehalftest.Echo `json:"output"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Output == nil {
		t.Fatalf("not {\"output\": <echo>}: %s", body)
	}
	return *v.Output
}

func wantEcho(method, rawPath, query, body, contentType string) func(t *testing.T, b []byte) {
	return func(t *testing.T, b []byte) {
		t.Helper()
		e := outputEcho(t, b)
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
		for k := range e.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-paragon-") {
				t.Errorf("header %s reached the upstream", k)
			}
		}
	}
}

const (
	wantTasks = `{"output":{"tasks":[{"id":1,"title":"Write the proxy","done":true},{"id":2,"title":"Ship the demo","done":false}]}}`
	wantTask1 = `{"output":{"id":1,"title":"Write the proxy","done":true}}`
	wantTask2 = `{"output":{"id":2,"title":"Ship the demo","done":false}}`
	refused   = `{"message":"This domain is invalid for the current integration","code":"HOST_NOT_ALLOWED","status":403}`
)

func TestMounted(t *testing.T) {
	for _, m := range mountings {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			env, srv := m.start(t)
			upstream := strings.TrimPrefix(env.UpstreamBase, "http://") // localhost:PORT/api
			token := env.Token()
			cases := []mountCase{
				{name: "bootstrap me", method: "GET", path: "me", wantStatus: 200, check: func(t *testing.T, b []byte) {
					var me struct {
						Integrations map[string]struct {
							Enabled bool `json:"enabled"`
						} `json:"integrations"`
					}
					if err := json.Unmarshal(b, &me); err != nil || !me.Integrations["custom.tasklab"].Enabled || len(me.Integrations) != 1 {
						t.Errorf("/sdk/me = %s, want custom.tasklab enabled", b)
					}
				}},
				{name: "bootstrap integrations", method: "GET", path: "integrations", wantStatus: 200, check: func(t *testing.T, b []byte) {
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
				{name: "GET relative path", method: "GET", path: "proxy/custom.tasklab/tasks", wantStatus: 200, want: wantTasks},
				{name: "GET custom by id", method: "GET", path: "proxy/custom/" + TaskLabID + "/tasks/2", wantStatus: 200, want: wantTask2},
				{name: "GET escaped path and query", method: "GET", path: "proxy/custom.tasklab/echo/a%20c/%C3%BC?x=1&y=a%20b", wantStatus: 200,
					check: wantEcho("GET", "/api/echo/a%20c/%C3%BC", "x=1&y=a%20b", "", "")},
				{name: "POST JSON with Content-Type auto", method: "POST", path: "proxy/custom.tasklab/echo", body: `{"title":"t"}`, wantStatus: 200,
					check: wantEcho("POST", "/api/echo", "", `{"title":"t"}`, "application/json")},
				{name: "DELETE", method: "DELETE", path: "proxy/custom.tasklab/echo/9", wantStatus: 200,
					check: wantEcho("DELETE", "/api/echo/9", "", "", "")},
				{name: "PATCH JSON", method: "PATCH", path: "proxy/custom.tasklab/echo/9?z=1", body: `{"done":true}`, wantStatus: 200,
					check: wantEcho("PATCH", "/api/echo/9", "z=1", `{"done":true}`, "application/json")},
				{name: "GET full URL", method: "GET", path: "proxy/custom.tasklab/http://" + upstream + "/tasks/1", fullURL: true, wantStatus: 200, want: wantTask1},
				{name: "POST full URL with body", method: "POST", path: "proxy/custom.tasklab/http://" + upstream + "/echo?q=1", body: `{"title":"via full URL"}`, fullURL: true, wantStatus: 200,
					check: wantEcho("POST", "/api/echo", "q=1", `{"title":"via full URL"}`, "application/json")},
				{name: "GET cleaned full URL", method: "GET", path: "proxy/custom.tasklab/http:/" + upstream + "/tasks/1", wantStatus: 200, want: wantTask1},
				{name: "POST cleaned full URL", method: "POST", path: "proxy/custom.tasklab/http:/" + upstream + "/echo", body: `{"a":1}`, wantStatus: 200,
					check: wantEcho("POST", "/api/echo", "", `{"a":1}`, "application/json")},
				{name: "GET refused host", method: "GET", path: "proxy/custom.tasklab/https://evil.example.com/x", fullURL: true, wantStatus: 403, want: refused},
				{name: "POST refused host", method: "POST", path: "proxy/custom.tasklab/https://evil.example.com/x", body: `{}`, fullURL: true, wantStatus: 403, want: refused},
				{name: "upstream 404", method: "GET", path: "proxy/custom.tasklab/tasks/999", wantStatus: 404,
					want: `{"message":"task 999 not found","code":"INTEGRATION_ERROR","status":404,"meta":{"isIntegrationError":true,"status":404,"body":{"message":"task 999 not found"}}}`},
				{name: "unknown integration", method: "GET", path: "proxy/custom.nope/tasks", wantStatus: 404,
					want: `{"message":"Unknown integration for this project.","code":"INTEGRATION_NOT_FOUND","status":404}`},
			}
			base := srv.URL + m.prefix + "/projects/" + env.Project + "/sdk/"
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					status, hops, body := send(t, c.method, base+c.path, c.body, token)
					if status != c.wantStatus {
						t.Fatalf("%s %s: status %d, want %d; body %s", c.method, c.path, status, c.wantStatus, body)
					}
					var wantHops []string
					if c.fullURL && m.redirects {
						cleaned := strings.Replace(m.prefix+"/projects/"+env.Project+"/sdk/"+c.path, "://", ":/", 1)
						wantHops = []string{"307 " + cleaned}
					}
					if !reflect.DeepEqual(hops, wantHops) {
						t.Errorf("redirects %q, want %q", hops, wantHops)
					}
					if c.want != "" && !jsonEqual(t, body, []byte(c.want)) {
						t.Errorf("body %s\nwant %s", body, c.want)
					}
					if c.check != nil {
						c.check(t, body)
					}
				})
			}
			t.Run("unknown route under the prefix", func(t *testing.T) {
				status, _, body := send(t, "GET", srv.URL+m.prefix+"/projects/"+env.Project+"/nope", "", token)
				if status != 404 || !jsonEqual(t, body, []byte(`{"message":"No such route.","code":"NOT_FOUND","status":404}`)) {
					t.Errorf("got %d %s, want the handler's 404 NOT_FOUND", status, body)
				}
			})
			t.Run("not served outside the prefix", func(t *testing.T) {
				status, _, body := send(t, "GET", srv.URL+"/projects/"+env.Project+"/sdk/me", "", token)
				if status != 404 {
					t.Errorf("GET /projects/%s/sdk/me without the prefix: %d %s, want 404", env.Project, status, body)
				}
			})
			if m.build != nil {
				t.Run("other routes of the host app", func(t *testing.T) {
					status, _, body := send(t, "GET", srv.URL+"/healthz", "", "")
					if status != 200 || string(body) != "ok" {
						t.Errorf("GET /healthz: %d %q", status, body)
					}
				})
			}
		})
	}
}

// send makes one request as the SDK would (Content-Type: auto, the user
// token), follows redirects, and returns the final status, the redirects
// taken ("STATUS Location") and the body.
func send(t *testing.T, method, target, body, token string) (int, []string, []byte) {
	t.Helper()
	var hops []string
	client := &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) > 3 {
			return fmt.Errorf("too many redirects: %q", hops)
		}
		hops = append(hops, fmt.Sprintf("%d %s", req.Response.StatusCode, req.Response.Header.Get("Location")))
		return nil
	}}
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
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
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
	return resp.StatusCode, hops, b
}

// TestSDKMounted runs the SDK against each mounting: the prefix is part of
// the SDK's base URL, and fetch follows the ServeMux 307 keeping a POST body.
func TestSDKMounted(t *testing.T) {
	sdkDir(t)
	for _, m := range mountings {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			env, srv := m.start(t)
			run := runSDK(t, srv.URL+m.prefix, env.Project, env.Token(), []scenario{
				{"list", "custom.tasklab", "/tasks", nil},
				{"by-id", "custom/" + TaskLabID, "tasks/2", nil},
				{"full-url", "custom.tasklab", env.UpstreamBase + "/tasks/1", nil},
				{"post-full-url", "custom.tasklab", env.UpstreamBase + "/echo?q=1", map[string]any{"method": "POST", "body": map[string]any{"title": "mounted"}}},
				{"refused-host", "custom.tasklab", "https://evil.example.com/x", nil},
				{"query", "custom.tasklab", "echo?x=1&y=a%20b", nil},
			})
			if !run.Authenticated || !run.AuthenticatedAtEnd {
				t.Fatalf("authenticated=%v atEnd=%v authError=%+v", run.Authenticated, run.AuthenticatedAtEnd, run.AuthError)
			}
			wantValue(t, run.result(t, "list", true), "object", strings.TrimSuffix(strings.TrimPrefix(wantTasks, `{"output":`), "}"))
			wantValue(t, run.result(t, "by-id", true), "object", `{"id":2,"title":"Ship the demo","done":false}`)
			wantValue(t, run.result(t, "full-url", true), "object", `{"id":1,"title":"Write the proxy","done":true}`)
			e := echoed(t, run.result(t, "post-full-url", true))
			if e.Method != "POST" || e.Path != "/api/echo" || e.Query != "q=1" || e.Body != `{"title":"mounted"}` ||
				!reflect.DeepEqual(e.Header["Content-Type"], []string{"application/json"}) {
				t.Errorf("upstream saw %s %s?%s body %q Content-Type %q, want POST /api/echo?q=1 with the JSON body",
					e.Method, e.Path, e.Query, e.Body, e.Header["Content-Type"])
			}
			wantError(t, run.result(t, "refused-host", false), 403, "HOST_NOT_ALLOWED", "This domain is invalid for the current integration")
			if e := echoed(t, run.result(t, "query", true)); e.Path != "/api/echo" || e.Query != "x=1&y=a%20b" {
				t.Errorf("upstream saw %s?%s, want /api/echo?x=1&y=a%%20b", e.Path, e.Query)
			}
		})
	}
}
