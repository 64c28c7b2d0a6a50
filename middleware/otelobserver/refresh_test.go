package otelobserver_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/middleware/otelobserver"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// refreshEnv starts an Env whose seeded access token has expired, with a
// Refresher that reports to the rig's hooks.
func refreshEnv(t *testing.T, r *rig) *onbehalftest.Env {
	t.Helper()
	return r.env(t, onbehalftest.EnvOptions{AccessTTL: -time.Minute, Configure: func(c *middleware.Config) {
		onRefresh, onFailed := r.obs.RefreshHooks()
		rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: c.Store, OnRefresh: onRefresh, OnRefreshFailed: onFailed})
		if err != nil {
			t.Fatal(err)
		}
		c.Refresher = rf
	}})
}

// An expired access token is refreshed once on the first call.
func TestRefreshSuccess(t *testing.T) {
	r := newRig(t, otelobserver.Config{})
	e := refreshEnv(t, r)
	tok := e.Token()
	resp, _ := r.do(t, get(t, e.ProxyURL("custom.tasklab", "tasks"), tok))
	if resp.StatusCode != 200 || e.TaskLab.Refreshes() != 1 {
		t.Fatalf("status %d after %d refreshes, want 200 after 1", resp.StatusCode, e.TaskLab.Refreshes())
	}
	ms := r.collect(t)
	want := map[string]string{"onbehalf.integration": "custom.tasklab", "outcome": "success"}
	n := counter(t, ms, "onbehalf.refreshes")
	if got := attrs(n.Attributes); n.Value != 1 || !maps.Equal(got, want) {
		t.Errorf("onbehalf.refreshes = %d %v, want 1 %v", n.Value, got, want)
	}
	d := histogram(t, ms, "onbehalf.refresh.duration")
	if got := attrs(d.Attributes); d.Count != 1 || d.Sum <= 0 || !maps.Equal(got, want) {
		t.Errorf("onbehalf.refresh.duration count %d sum %v %v, want 1 >0 %v", d.Count, d.Sum, got, want)
	}
	fresh, err := e.Store.Get(context.Background(), e.Connection.Key())
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Credential.AccessToken == e.Connection.Credential.AccessToken {
		t.Fatal("the access token was not replaced")
	}
	assertNoSecret(t, r, tok, e.Connection.Credential.AccessToken, e.Connection.Credential.RefreshToken,
		fresh.Credential.AccessToken, fresh.Credential.RefreshToken)
}

// A refresh token the provider no longer honours: the grant is gone.
func TestRefreshReauthRequired(t *testing.T) {
	r := newRig(t, otelobserver.Config{})
	e := refreshEnv(t, r)
	spent := e.Connection.Clone()
	spent.Credential.RefreshToken = "spent-refresh-token"
	if err := e.Store.Save(context.Background(), spent); err != nil {
		t.Fatal(err)
	}
	resp, rec := r.do(t, get(t, e.ProxyURL("custom.tasklab", "tasks"), e.Token()))
	if resp.StatusCode != 403 || rec.ErrorCode != "CONNECTION_REAUTH_REQUIRED" {
		t.Fatalf("status %d %s, want 403 CONNECTION_REAUTH_REQUIRED", resp.StatusCode, rec.ErrorCode)
	}
	n := counter(t, r.collect(t), "onbehalf.refreshes")
	want := map[string]string{"onbehalf.integration": "custom.tasklab", "outcome": "reauth_required"}
	if got := attrs(n.Attributes); n.Value != 1 || !maps.Equal(got, want) {
		t.Errorf("onbehalf.refreshes = %d %v, want 1 %v", n.Value, got, want)
	}
}

// The hooks map events to outcomes; the error is not recorded.
func TestRefreshHooksOutcomes(t *testing.T) {
	r := newRig(t, otelobserver.Config{})
	onRefresh, onFailed := r.obs.RefreshHooks()
	key := tokens.Key{Project: "p", User: "u", Integration: "salesforce", ID: "c1"}
	onRefresh(tokens.RefreshEvent{Key: key, Duration: time.Second})
	onFailed(tokens.RefreshEvent{Key: key, NeedsReauth: true}, errors.New("invalid_grant"))
	onFailed(tokens.RefreshEvent{Key: key}, errors.New("token endpoint: 503"))
	onFailed(tokens.RefreshEvent{Key: key, Forced: true}, errors.New("token endpoint: 503"))

	got := map[string]int64{}
	m := r.collect(t)["onbehalf.refreshes"]
	for _, s := range metricAttrSets(m) {
		a := attrs(s)
		if a["onbehalf.integration"] != "salesforce" || len(a) != 2 {
			t.Errorf("attributes %v", a)
		}
	}
	for _, p := range counterPoints(t, m) {
		got[attrs(p.Attributes)["outcome"]] = p.Value
	}
	want := map[string]int64{"success": 1, "reauth_required": 1, "failed": 2}
	if !maps.Equal(got, want) {
		t.Errorf("onbehalf.refreshes by outcome %v, want %v", got, want)
	}
	assertNoSecret(t, r, "invalid_grant", "503", "c1")
}
