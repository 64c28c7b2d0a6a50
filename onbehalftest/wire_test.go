package onbehalftest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// The rows pass against the handler served at the root, under
// Config.Prefix, and behind a ServeMux that redirects "//" paths.
func TestRunWireRows(t *testing.T) {
	t.Run("root", func(t *testing.T) {
		e := onbehalftest.NewEnv(t)
		onbehalftest.RunWireRows(t, e, onbehalftest.WireConfig{Base: e.Server.URL})
	})
	t.Run("Config.Prefix", func(t *testing.T) {
		e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{Configure: func(c *middleware.Config) { c.Prefix = "/api/onbehalf" }})
		onbehalftest.RunWireRows(t, e, onbehalftest.WireConfig{Base: e.Server.URL + "/api/onbehalf", Client: e.Server.Client()})
	})
	t.Run("ServeMux+StripPrefix", func(t *testing.T) {
		e := onbehalftest.NewEnv(t)
		m := http.NewServeMux()
		m.Handle("/onbehalf/", http.StripPrefix("/onbehalf", e.Handler))
		srv := httptest.NewServer(m)
		t.Cleanup(srv.Close)
		onbehalftest.RunWireRows(t, e, onbehalftest.WireConfig{Base: srv.URL + "/onbehalf", Redirects: true})
	})
}
