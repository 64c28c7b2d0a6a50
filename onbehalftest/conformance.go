package onbehalftest

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/integrations"
)

// Conform runs entry's connection life against a ProviderFake built from
// the entry itself, and fails t at the first step that does not work: for
// OAuth entries inputs → authorize → callback → token → captures and
// lookups → verification → a proxied call that reaches the templated base
// URL → forced expiry → refresh → revocation on disconnect; for API-key and
// basic entries the credentials route → verification → a proxied call. An
// entry with auth.type none skips t, saying why. Anything the fake refused
// fails t too.
func Conform(t testing.TB, entry integrations.Config) {
	t.Helper()
	fake := NewProviderFake(t, entry)
	e := NewProviderEnv(t, fake)
	defer func() {
		if v := fake.Violations(); len(v) > 0 {
			t.Errorf("the fake refused: %s", strings.Join(v, "; "))
		}
	}()
	switch entry.Auth.Type {
	case integrations.AuthOAuth2:
		conformOAuth(t, e, entry)
	case integrations.AuthAPIKey, integrations.AuthBasic:
		conformCredentials(t, e, entry)
	case integrations.AuthNone, "":
		// No connect flow produces a credential for such an entry; one
		// whose headers need a credential cannot be connected.
		for name, v := range entry.Headers {
			if strings.Contains(v, "{credential.") {
				t.Skipf("headers.%s needs a credential, but auth.type none has no connect flow: the entry cannot produce a connection until it declares its OAuth scheme (auth.type oauth2: the header then carries the token instead of Authorization)", name)
			}
		}
		t.Skip("auth.type none: nothing to connect")
	default:
		t.Fatalf("auth type %q: no connect flow reaches it; the entry cannot produce a connection", entry.Auth.Type)
	}
}

func conformOAuth(t testing.TB, e *ProviderEnv, entry integrations.Config) {
	t.Helper()
	fake := e.Fake
	if entry.Auth.AuthURL == "" {
		t.Fatal("auth.authUrl is empty: the connect flow cannot start")
	}
	inputs := map[string]string{}
	for k, v := range fake.Inputs {
		inputs[k] = v
	}
	res := e.ConnectFlow(t, inputs)
	if q := res.Outcome.Query(); q.Get("onbehalf_status") != connect.StatusConnected {
		_, _, failed := e.Events.Counts()
		t.Fatalf("connect: %s (failures %v, violations %v)", res.Outcome, failed, fake.Violations())
	}
	c := e.Connection(t)
	if c == nil {
		t.Fatal("no connection saved")
	}
	for k, want := range fake.Expected {
		if got := c.Fields[k]; got != want {
			t.Errorf("field %s = %q, want %q", k, got, want)
		}
	}
	for i, l := range entry.Lookups {
		if l.Choose == integrations.ChooseUser && (!res.Chooser || res.Items != 2) {
			t.Errorf("lookups[%d] offers two items to choose among: chooser shown %v with %d items", i, res.Chooser, res.Items)
		}
	}
	if entry.Auth.TokenPaths.ExpiresAt != "" {
		// The absolute expiry of the token answer, not a lifetime.
		if d := time.Until(c.Credential.Expiry); d < FakeExpiresAtLifetime-10*time.Minute || d > FakeExpiresAtLifetime+time.Minute {
			t.Errorf("auth.tokenPaths.expiresAt not used: the connection expires in %s, the answer said %s", d.Round(time.Second), FakeExpiresAtLifetime)
		}
	}
	if entry.Verify != nil && fake.Count("verify") != 1 {
		t.Errorf("verification requests: %d, want 1", fake.Count("verify"))
	}

	// A proxied call reaches the templated base URL with the credential.
	proxy := func() {
		t.Helper()
		before := fake.Count("api")
		status, body := e.SDK(t, http.MethodGet, "/proxy/"+url.PathEscape(e.Key)+"/conformance/probe", nil)
		if status != http.StatusOK || fake.Count("api") != before+1 {
			t.Fatalf("proxied call: %d %s (api calls %d → %d, violations %v)", status, body, before, fake.Count("api"), fake.Violations())
		}
	}
	proxy()

	// Forced expiry, then the refresh through the entry's grant.
	rules := entry.RefreshRules
	if c.Credential.RefreshToken == "" {
		if rules == nil || !rules.NoRefreshToken {
			t.Fatal("the connection has no refresh token: it dies when its access token expires (auth.authParams? refreshRules.noRefreshToken?)")
		}
	} else {
		old := c.Credential
		c.Credential.Expiry = time.Now().Add(-time.Minute)
		if err := e.Store.Save(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		proxy()
		if fake.Count("refresh") != 1 {
			t.Fatalf("refreshes: %d, want 1", fake.Count("refresh"))
		}
		c = e.Connection(t)
		if c.Credential.AccessToken == old.AccessToken || !c.Credential.Expiry.After(time.Now()) {
			t.Fatalf("the refreshed credential was not saved: %v", c.Credential)
		}
		if rules != nil && rules.Rotates && (c.Credential.RefreshToken == old.RefreshToken || fake.RefreshTokenLive(old.RefreshToken)) {
			t.Fatal("a rotating refresh token was not replaced")
		}
	}

	// Disconnect revokes at the entry's revocation endpoint.
	status, body := e.SDK(t, http.MethodDelete, "/connect/"+url.PathEscape(e.Key), nil)
	if status != http.StatusNoContent {
		t.Fatalf("disconnect: %d %s", status, body)
	}
	if entry.Auth.RevokeURL != "" {
		if fake.Count("revoke") != 1 {
			t.Fatalf("revocations: %d, want 1", fake.Count("revoke"))
		}
		if c.Credential.RefreshToken != "" && fake.RefreshTokenLive(c.Credential.RefreshToken) {
			t.Fatal("the grant survived the disconnect")
		}
		if entry.Auth.RevokeStyle == integrations.RevokeBearer && fake.AccessTokenLive(c.Credential.AccessToken) {
			t.Fatal("the access token survived a bearer revocation")
		}
	}
	if e.Connection(t) != nil {
		t.Fatal("the connection survived the disconnect")
	}
}

func conformCredentials(t testing.TB, e *ProviderEnv, entry integrations.Config) {
	t.Helper()
	fake := e.Fake
	// The credential goes as the portal sends it: in the entry's secret
	// inputs when it declares them, else in the top-level fields; a fixed
	// basic password (auth.password) is never sent.
	body := map[string]any{"inputs": fake.Inputs}
	secret := map[string]bool{}
	for _, in := range entry.Inputs {
		secret[in.Name] = in.Secret
	}
	if entry.Auth.Type == integrations.AuthAPIKey {
		if !secret["api_key"] {
			body["apiKey"] = fake.APIKey
		}
	} else {
		if !secret["username"] {
			body["username"] = fake.Username
		}
		if !secret["password"] && entry.Auth.Password == nil {
			body["password"] = fake.Password
		}
	}
	status, b := e.SDK(t, http.MethodPost, "/connect/"+url.PathEscape(e.Key)+"/credentials", body)
	if status != http.StatusCreated {
		t.Fatalf("credentials: %d %s", status, b)
	}
	if entry.Verify != nil && fake.Count("verify") != 1 {
		t.Errorf("verification requests: %d, want 1", fake.Count("verify"))
	}
	status, b = e.SDK(t, http.MethodGet, "/proxy/"+url.PathEscape(e.Key)+"/conformance/probe", nil)
	if status != http.StatusOK || fake.Count("api") != 1 {
		t.Fatalf("proxied call: %d %s (violations %v)", status, b, fake.Violations())
	}
}
