package echoadapter_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v5"

	"github.com/onbehalf/onbehalf/middleware/echoadapter"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

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

func TestMount(t *testing.T) {
	for _, m := range mountings {
		t.Run(m.name, func(t *testing.T) {
			env := onbehalftest.NewEnv(t)
			e := echo.New()
			e.GET("/healthz", func(c *echo.Context) error { return c.String(http.StatusOK, "ok") })
			m.build(e, env.Handler)
			srv := httptest.NewServer(e)
			t.Cleanup(srv.Close)
			onbehalftest.RunWireRows(t, env, onbehalftest.WireConfig{Base: srv.URL + m.prefix})
			t.Run("other routes of the app", func(t *testing.T) {
				status, body := env.Get(t, srv.URL+"/healthz")
				if status != 200 || string(body) != "ok" {
					t.Errorf("GET /healthz: %d %q", status, body)
				}
			})
			if m.prefix != "" {
				t.Run("not served outside the prefix", func(t *testing.T) {
					status, body := env.Get(t, srv.URL+"/projects/"+env.Project+"/sdk/me")
					if status != 404 || bytes.Contains(body, []byte("NOT_FOUND")) {
						t.Errorf("outside the prefix: %d %s, want Echo's 404", status, body)
					}
				})
			}
		})
	}
}
