package e2e

import (
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

// wantTasks is the proxy's answer to GET custom.tasklab/tasks.
const wantTasks = `{"output":{"tasks":[{"id":1,"title":"Write the proxy","done":true},{"id":2,"title":"Ship the demo","done":false}]}}`

// TestMounted runs the WIRE.md rows through each mounting, then what only a
// host app has: paths outside the prefix and the app's own routes.
func TestMounted(t *testing.T) {
	for _, m := range mountings {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			env, srv := m.start(t)
			onbehalftest.RunWireRows(t, env, onbehalftest.WireConfig{Base: srv.URL + m.prefix, Redirects: m.redirects})
			t.Run("not served outside the prefix", func(t *testing.T) {
				status, body := env.Get(t, srv.URL+"/projects/"+env.Project+"/sdk/me")
				if status != 404 {
					t.Errorf("GET /projects/%s/sdk/me without the prefix: %d %s, want 404", env.Project, status, body)
				}
			})
			if m.build != nil {
				t.Run("other routes of the host app", func(t *testing.T) {
					status, body := env.Get(t, srv.URL+"/healthz")
					if status != 200 || string(body) != "ok" {
						t.Errorf("GET /healthz: %d %q", status, body)
					}
				})
			}
		})
	}
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
