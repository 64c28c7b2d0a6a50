package middleware_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// waitEvents polls l until it has collected want (in order), or fails.
func waitEvents(t *testing.T, l *eventLog, want ...string) {
	t.Helper()
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = append(got, l.take()...)
		if len(got) >= len(want) {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// TestEventsOwnRefresher: with Config.Events and no Refresher of the
// caller's, the Refresher New makes sends "refreshed" for a request's
// refresh and for the KeepAlive's.
func TestEventsOwnRefresher(t *testing.T) {
	e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{AccessTTL: -time.Minute})
	em, log := newEventLog(t)
	h, err := middleware.New(middleware.Config{
		Projects: []middleware.ProjectConfig{{ID: e.Project, Keys: []middleware.KeyConfig{e.Signer.KeyConfig()},
			Integrations: []integrations.Config{onbehalftest.TaskLabIntegration(e.UpstreamBase, "tasklab-client", "tasklab-secret")}}},
		Store:     e.Store,
		Events:    em,
		KeepAlive: &tokens.KeepAliveConfig{Interval: 50 * time.Millisecond, Ahead: 2 * time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	// The expired token: the first tick or the request refreshes it, once.
	resp := e.Do(t, "GET", srv.URL+"/projects/"+e.Project+"/sdk/proxy/custom.tasklab/tasks", nil, nil)
	if body := readBody(t, resp); resp.StatusCode != 200 {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	waitEvents(t, log, "connection.refreshed/")
	// A token that expires within Ahead: the KeepAlive refreshes it, no request.
	c, _ := e.Store.Get(context.Background(), e.Connection.Key())
	c.Credential.Expiry, c.Credential.ObtainedAt = time.Now().Add(time.Hour), time.Now().Add(-2*time.Hour)
	if err := e.Store.Save(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, log, "connection.refreshed/")
}

// TestEventsRefreshLifecycle: through proxied requests on a caller's
// Refresher wired with the Emitter's RefreshHooks: "refresh failing" once
// per episode, "refreshed" and "recovered" when it works again,
// "re-authorization required" (grant_rejected) when the grant is gone.
func TestEventsRefreshLifecycle(t *testing.T) {
	rec := newRecorder(t)
	var mode atomic.Int64 // 0 ok, 1 503, 2 invalid_grant
	var n atomic.Int64
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch mode.Load() {
		case 1:
			w.WriteHeader(503)
			_, _ = io.WriteString(w, `{"error":"temporarily_unavailable"}`)
		case 2:
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
		default:
			i := n.Add(1)
			_, _ = fmt.Fprintf(w, `{"access_token":"at-%d","refresh_token":"rt-%d","token_type":"Bearer","expires_in":3600}`, i, i)
		}
	}))
	t.Cleanup(tokenSrv.Close)
	in := localIntegration(rec, "ev", integrations.SchemeConfig{Type: integrations.AuthOAuth2,
		TokenURL: tokenSrv.URL + "/token", ClientID: "cid", ClientSecret: "secret", AuthStyle: "header"})
	em, log := newEventLog(t)
	const cooldown = 200 * time.Millisecond
	e := envWith(t, []integrations.Config{in}, func(c *middleware.Config) {
		onRefresh, onFailed := em.RefreshHooks()
		rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: c.Store, Cooldown: cooldown, OnRefresh: onRefresh, OnRefreshFailed: onFailed})
		if err != nil {
			t.Fatal(err)
		}
		c.Refresher, c.Events = rf, em
	})
	c := connect(t, e, "ev", tokens.Credential{AccessToken: "old", RefreshToken: "rt-0", TokenType: "Bearer", Expiry: time.Now().Add(-time.Minute)}, nil)
	call := func(want int) {
		t.Helper()
		resp := e.Do(t, "GET", e.ProxyURL("ev", "x"), nil, nil)
		if body := readBody(t, resp); resp.StatusCode != want {
			t.Fatalf("got %d %s, want %d", resp.StatusCode, body, want)
		}
	}
	mode.Store(1)
	call(502)
	waitEvents(t, log, "connection.refresh_failing/refresh_failed")
	time.Sleep(cooldown + 50*time.Millisecond)
	call(502) // failing again: no second event
	waitEvents(t, log)
	time.Sleep(cooldown + 50*time.Millisecond)
	mode.Store(0)
	call(200)
	waitEvents(t, log, "connection.refreshed/", "connection.recovered/refreshed")

	mode.Store(2)
	cur, _ := e.Store.Get(context.Background(), c.Key())
	cur.Credential.Expiry = time.Now().Add(-time.Minute)
	if err := e.Store.Save(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	call(403)
	waitEvents(t, log, "connection.reauth_required/grant_rejected")
}
