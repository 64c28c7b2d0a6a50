package ginadapter_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/onbehalf/onbehalf/middleware/ginadapter"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// mounting is one way a Gin app mounts the handler.
type mounting struct {
	name   string
	prefix string // where the handler answers
	engine func(r *gin.Engine)
	build  func(r *gin.Engine, h http.Handler)
}

func mountGroup(r *gin.Engine, h http.Handler) { ginadapter.Mount(r.Group("/api/integrations"), h) }

var mountings = []mounting{
	{name: "group", prefix: "/api/integrations", build: mountGroup},
	{name: "group with a parameter", prefix: "/t/acme/ob", build: func(r *gin.Engine, h http.Handler) { ginadapter.Mount(r.Group("/t/:tenant/ob"), h) }},
	{name: "nested groups", prefix: "/api/v1/ob", build: func(r *gin.Engine, h http.Handler) { ginadapter.Mount(r.Group("/api").Group("/v1/ob"), h) }},
	{name: "Handler on a catch-all route", prefix: "/direct", build: func(r *gin.Engine, h http.Handler) { r.Any("/direct/*rest", ginadapter.Handler(h)) }},
	// Every path setting that cleans or redirects: the catch-all still
	// matches and the handler reads the URL as sent.
	{name: "RemoveExtraSlash+RedirectFixedPath", prefix: "/api/integrations", build: mountGroup,
		engine: func(r *gin.Engine) {
			r.RemoveExtraSlash, r.RedirectFixedPath, r.RedirectTrailingSlash = true, true, true
		}},
	{name: "UseRawPath", prefix: "/api/integrations", build: mountGroup,
		engine: func(r *gin.Engine) { r.UseRawPath, r.UnescapePathValues = true, false }},
	{name: "UseEscapedPath", prefix: "/api/integrations", build: mountGroup,
		engine: func(r *gin.Engine) { r.UseEscapedPath = true }},
}

func init() { gin.SetMode(gin.TestMode) }

func TestMount(t *testing.T) {
	for _, m := range mountings {
		t.Run(m.name, func(t *testing.T) {
			env := onbehalftest.NewEnv(t)
			r := gin.New()
			if m.engine != nil {
				m.engine(r)
			}
			r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
			m.build(r, env.Handler)
			srv := httptest.NewServer(r)
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
						t.Errorf("outside the prefix: %d %s, want Gin's 404", status, body)
					}
				})
			}
		})
	}
}
