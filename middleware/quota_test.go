package middleware_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/middleware/upstream"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestUserQuota: the host app caps its own users per integration; past the
// quota a request answers 429 USER_QUOTA_EXCEEDED with Retry-After and is
// never forwarded; another user keeps their own quota, and an integration
// with a zero override has none.
func TestUserQuota(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{
		localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey}),
		localIntegration(rec, "free", integrations.SchemeConfig{Type: integrations.AuthAPIKey}),
	}, func(c *middleware.Config) {
		c.Forwarder.Limits = upstream.LimitsConfig{
			UserQuota:  upstream.Quota{Requests: 2, Window: time.Hour},
			UserQuotas: map[string]upstream.Quota{"free": {}},
		}
	})
	connect(t, e, "api", tokens.Credential{APIKey: "k"}, nil)
	connect(t, e, "free", tokens.Credential{APIKey: "k"}, nil)
	other := &tokens.Connection{Project: e.Project, User: "user-2", Integration: "api", Credential: tokens.Credential{APIKey: "k2"}}
	if err := e.Store.Save(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	get := func(integration, user string) *http.Response {
		return e.Do(t, "GET", e.ProxyURL(integration, "x"), nil, http.Header{"Authorization": {"Bearer " + e.Signer.MustToken(e.Project, user)}})
	}
	for i := 0; i < 2; i++ {
		if resp := get("api", e.User); resp.StatusCode != 200 {
			t.Fatalf("request %d within the quota: %d", i+1, resp.StatusCode)
		}
	}
	before := rec.count.Load()
	resp := get("api", e.User)
	if b := errorBody(t, resp); resp.StatusCode != 429 || b.Code != "USER_QUOTA_EXCEEDED" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("past the quota: %d %s Retry-After %q, want 429 USER_QUOTA_EXCEEDED with Retry-After", resp.StatusCode, b.Code, resp.Header.Get("Retry-After"))
	}
	if rec.count.Load() != before {
		t.Fatal("a request past the quota reached the provider")
	}
	if resp := get("api", "user-2"); resp.StatusCode != 200 {
		t.Errorf("another user's own quota: %d, want 200", resp.StatusCode)
	}
	for i := 0; i < 4; i++ {
		if resp := get("free", e.User); resp.StatusCode != 200 {
			t.Fatalf("integration without a quota, request %d: %d", i+1, resp.StatusCode)
		}
	}
}
