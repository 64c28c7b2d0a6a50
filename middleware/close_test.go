package middleware_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestCloseShutsDownOwnRefresher: Close waits for the refreshes of the
// Refresher New made and stops it (a due connection then answers 502
// REFRESH_FAILED and the token endpoint is not called), and leaves a
// Refresher the caller gave alone (it still refreshes).
func TestCloseShutsDownOwnRefresher(t *testing.T) {
	for _, own := range []bool{true, false} {
		e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{AccessTTL: -time.Minute})
		cfg := middleware.Config{
			Projects: []middleware.ProjectConfig{{ID: e.Project, Keys: []middleware.KeyConfig{e.Signer.KeyConfig()},
				Integrations: []integrations.Config{onbehalftest.TaskLabIntegration(e.UpstreamBase, "tasklab-client", "tasklab-secret")}}},
			Store: e.Store,
		}
		if !own {
			rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: e.Store})
			if err != nil {
				t.Fatal(err)
			}
			cfg.Refresher = rf
		}
		h, err := middleware.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		h.Close()
		resp := e.Do(t, "GET", srv.URL+"/projects/"+e.Project+"/sdk/proxy/custom.tasklab/tasks", nil, nil)
		code := ""
		if resp.StatusCode != 200 {
			code = errorBody(t, resp).Code
		} else {
			readBody(t, resp)
		}
		srv.Close()
		switch {
		case own && (resp.StatusCode != 502 || code != "REFRESH_FAILED" || e.TaskLab.Refreshes() != 0):
			t.Errorf("handler's own Refresher after Close: %d %s, %d refreshes; want 502 REFRESH_FAILED and none", resp.StatusCode, code, e.TaskLab.Refreshes())
		case !own && (resp.StatusCode != 200 || e.TaskLab.Refreshes() != 1):
			t.Errorf("the caller's Refresher after Close: %d, %d refreshes; want 200 and one", resp.StatusCode, e.TaskLab.Refreshes())
		}
	}
}
