package middleware_test

import (
	"net/http"
	"testing"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// TestStoreOutageRetryAfter: a store outage answers 503 STORE_UNAVAILABLE
// with Retry-After, so clients and the SDK back off instead of hammering a
// failing store, on the proxy and the bootstrap routes alike.
func TestStoreOutageRetryAfter(t *testing.T) {
	var flaky *flakyStore
	e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{Configure: func(c *middleware.Config) {
		flaky = &flakyStore{Store: c.Store}
		c.Store = flaky
	}})
	flaky.down = true
	for _, u := range []string{e.ProxyURL("custom.tasklab", "tasks"), e.Server.URL + "/projects/" + e.Project + "/sdk/me"} {
		resp := e.Do(t, http.MethodGet, u, nil, nil)
		b := errorBody(t, resp)
		if resp.StatusCode != 503 || b.Code != "STORE_UNAVAILABLE" || resp.Header.Get("Retry-After") != "2" {
			t.Errorf("%s: got %d %s Retry-After %q, want 503 STORE_UNAVAILABLE Retry-After 2", u, resp.StatusCode, b.Code, resp.Header.Get("Retry-After"))
		}
	}
}
