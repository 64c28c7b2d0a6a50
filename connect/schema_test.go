package connect_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/lifecycle"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// Synthetic entries, one quirk each, run through the provider fake kit: the
// fake refuses what the entry's declarations forbid, so each test fails
// when the connect flow ignores the declaration it is about.

func googleLike() integrations.Config {
	return integrations.Config{Type: "custom", Slug: "glike", BaseURL: "https://www.glike.test/calendar/v3",
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2, AuthURL: "https://accounts.glike.test/o/oauth2/v2/auth",
			TokenURL: "https://oauth2.glike.test/token", RevokeURL: "https://oauth2.glike.test/revoke", Scopes: []string{"cal", "openid"},
			AuthParams: map[string]string{"access_type": "offline"}, ReauthParams: map[string]string{"prompt": "consent"}},
		Capture: []integrations.Capture{{Field: "email", From: integrations.CaptureIDToken, Path: "email"}},
		Verify:  &integrations.Verification{Path: "/users/me/calendarList"}}
}

func quickbooksLike() integrations.Config {
	return integrations.Config{Type: "custom", Slug: "qlike", BaseURL: "https://api.qlike.test/v3/company/{realm}",
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2, AuthURL: "https://app.qlike.test/connect",
			TokenURL: "https://oauth.qlike.test/tokens/bearer", Scopes: []string{"accounting"}},
		Capture:      []integrations.Capture{{Field: "realm", From: integrations.CaptureCallback, Path: "realmId"}},
		RefreshRules: &integrations.RefreshRules{Rotates: true}}
}

func atlassianLike() integrations.Config {
	return integrations.Config{Type: "custom", Slug: "alike", BaseURL: "https://api.alike.test/ex/jira/{cloud}/rest/api/3",
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2, AuthURL: "https://auth.alike.test/authorize",
			TokenURL: "https://auth.alike.test/oauth/token", Scopes: []string{"read:jira-work", "offline_access"}, AuthStyle: "params",
			TokenBody: integrations.TokenBodyJSON},
		Lookups: []integrations.Lookup{{URL: "https://api.alike.test/oauth/token/accessible-resources",
			Fields: map[string]string{"cloud": "id", "site": "url"}, Label: "name", Choose: integrations.ChooseUser}},
		Verify: &integrations.Verification{Path: "/myself"}}
}

func shopifyLike() integrations.Config {
	return integrations.Config{Type: "custom", Slug: "slike", BaseURL: "https://{shop}.slike.test/admin/api/2025-01",
		AllowedHosts: []string{"*.slike.test"},
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2, AuthURL: "https://{shop}.slike.test/admin/oauth/authorize",
			TokenURL: "https://{shop}.slike.test/admin/oauth/access_token", RevokeURL: "https://{shop}.slike.test/admin/oauth/revoke",
			Scopes: []string{"read_orders", "write_orders"}, ScopeSeparator: ",", PKCE: integrations.PKCEOff, AuthStyle: "params",
			TokenBody: integrations.TokenBodyJSON, TokenParams: map[string]string{"expiring": "1"}, DefaultLifetimeSeconds: 3600},
		Headers: map[string]string{"X-Slike-Access-Token": "{credential.access_token}"},
		Inputs: []integrations.Input{{Name: "shop", Label: "Shop subdomain", Pattern: "[a-z0-9][a-z0-9-]{0,59}", Example: "acme",
			Help: "The part before .slike.test"}},
		RefreshRules: &integrations.RefreshRules{Rotates: true}}
}

func slackLike() integrations.Config {
	return integrations.Config{Type: "custom", Slug: "sllike", BaseURL: "https://sllike.test/api",
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2, AuthURL: "https://sllike.test/oauth/v2/authorize",
			TokenURL: "https://sllike.test/api/oauth.v2.access", Scopes: []string{"chat:write", "users:read"}, ScopeParam: "user_scope",
			ScopeSeparator: ",", TokenPaths: integrations.TokenPaths{AccessToken: "authed_user.access_token",
				RefreshToken: "authed_user.refresh_token", ExpiresIn: "authed_user.expires_in", TokenType: "authed_user.token_type"},
			RefreshParams: map[string]string{"client_hint": "{team}"}},
		Capture: []integrations.Capture{{Field: "team", From: integrations.CaptureToken, Path: "team.id"}}}
}

// TestQuirkEntriesConnect walks the whole connection life of each quirk
// through the fake (onbehalftest.Conform: connect, proxy, forced expiry and
// refresh through the entry's grant, revocation).
func TestQuirkEntriesConnect(t *testing.T) {
	for name, cfg := range map[string]integrations.Config{"google": googleLike(), "quickbooks": quickbooksLike(),
		"atlassian": atlassianLike(), "shopify": shopifyLike(), "slack": slackLike()} {
		t.Run(name, func(t *testing.T) {
			onbehalftest.Conform(t, cfg)
		})
	}
}

// TestReconnectSendsReauthParams: a second connect of the same account
// carries auth.reauthParams (Google's prompt=consent); the first does not.
func TestReconnectSendsReauthParams(t *testing.T) {
	fake := onbehalftest.NewProviderFake(t, googleLike())
	e := onbehalftest.NewProviderEnv(t, fake)
	e.ConnectFlow(t, nil)
	if fake.Count("reauthorize") != 0 {
		t.Fatal("a first connect asked for consent again")
	}
	if q := fake.LastAuthorization().Query(); q.Get("access_type") != "offline" || q.Has("prompt") {
		t.Fatalf("first authorization %v", q)
	}
	e.ConnectFlow(t, nil)
	if fake.Count("reauthorize") != 1 {
		t.Fatalf("a reconnect must carry reauthParams: %v", fake.LastAuthorization())
	}
}

// TestFakeEnforcesOfflineAccess: without the entry's authParams the fake
// issues no refresh token (Google without access_type=offline), so an
// entry that forgets them fails its conformance test.
func TestFakeEnforcesOfflineAccess(t *testing.T) {
	fake := onbehalftest.NewProviderFake(t, googleLike())
	// The handler runs with a config that lacks the parameter the provider needs.
	enforced := fake.Config.Auth.AuthParams
	fake.Config.Auth.AuthParams = nil
	e := onbehalftest.NewProviderEnv(t, fake)
	fake.Config.Auth.AuthParams = enforced
	if q := e.ConnectFlow(t, nil).Outcome.Query(); q.Get("onbehalf_status") != connect.StatusConnected {
		t.Fatalf("outcome %v", q)
	}
	if c := e.Connection(t); c == nil || c.Credential.RefreshToken != "" {
		t.Fatalf("a connection without access_type=offline got a refresh token: %v", c)
	}
}

// TestStartValidatesInputs: inputs are checked server-side against their
// patterns, with CONNECT_INPUT_INVALID naming the input, before any state
// is kept or any URL built.
func TestStartValidatesInputs(t *testing.T) {
	fake := onbehalftest.NewProviderFake(t, shopifyLike())
	e := onbehalftest.NewProviderEnv(t, fake)
	for _, tc := range []struct {
		inputs map[string]string
		want   string
	}{
		{nil, `input "shop" is required`},
		{map[string]string{"shop": "evil.example/x"}, `input "shop" does not have the expected form`},
		{map[string]string{"shop": "acme", "other": "x"}, `"other" is not an input`},
		{map[string]string{"shop": strings.Repeat("a", 300)}, `longer than 256 bytes`},
	} {
		status, b := e.SDK(t, http.MethodPost, "/connect/"+e.Key+"/start", map[string]any{"inputs": tc.inputs})
		var body struct{ Code, Message string }
		_ = json.Unmarshal(b, &body)
		if status != http.StatusBadRequest || body.Code != string(connect.CodeInputInvalid) || !strings.Contains(strings.ToLower(body.Message), strings.ToLower(tc.want)) {
			t.Errorf("inputs %v: %d %s", tc.inputs, status, b)
		}
	}
	if fake.Count("authorize") != 0 {
		t.Fatal("a refused start reached the provider")
	}
	// GET connect/inputs describes them for the portal.
	status, b := e.SDK(t, http.MethodGet, "/connect/inputs", nil)
	var got map[string][]integrations.Input
	if status != http.StatusOK || json.Unmarshal(b, &got) != nil || len(got[e.Key]) != 1 || got[e.Key][0].Label != "Shop subdomain" ||
		got[e.Key][0].Pattern == "" {
		t.Fatalf("inputs route: %d %s", status, b)
	}
}

// TestVerificationFailureIsReported: a connection that fails its
// verification is not saved; the return URL and the FailureSink hear
// verification_failed.
func TestVerificationFailureIsReported(t *testing.T) {
	cfg := googleLike()
	cfg.Verify.OK = []int{299} // the fake answers 200: "not working"
	fake := onbehalftest.NewProviderFake(t, cfg)
	e := onbehalftest.NewProviderEnv(t, fake)
	res := e.ConnectFlow(t, nil)
	if q := res.Outcome.Query(); q.Get("onbehalf_status") != connect.StatusError || q.Get("error") != connect.ErrorVerificationFailed {
		t.Fatalf("outcome %s", res.Outcome)
	}
	if e.Connection(t) != nil {
		t.Fatal("a connection that failed verification was saved")
	}
	if _, _, failed := e.Events.Counts(); !slices.Contains(failed, "custom.glike:verification_failed") {
		t.Fatalf("failure sink heard %v", failed)
	}
}

// TestLookupFailures: a lookup the provider refuses, and one that finds
// nothing, fail the connection with their codes and save nothing.
func TestLookupFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*integrations.Lookup)
		want   string
	}{
		{"refused", func(l *integrations.Lookup) { l.URL = strings.Replace(l.URL, "accessible-resources", "gone", 1) }, connect.ErrorLookupFailed},
		{"empty", func(l *integrations.Lookup) { l.Items = "no.such.list" }, connect.ErrorLookupEmpty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := onbehalftest.NewProviderFake(t, atlassianLike())
			served := fake.Config.Lookups[0]
			fake.Config.Lookups = []integrations.Lookup{served}
			tc.change(&fake.Config.Lookups[0])
			e := onbehalftest.NewProviderEnv(t, fake)
			fake.Config.Lookups = []integrations.Lookup{served}
			if q := e.ConnectFlow(t, nil).Outcome.Query(); q.Get("error") != tc.want {
				t.Fatalf("outcome %v, want %s", q, tc.want)
			}
			if e.Connection(t) != nil {
				t.Fatal("saved")
			}
		})
	}
}

// TestChooserIsBoundToTheBrowser: the chooser's form completes the
// connection only in the browser that saw it, once; an index outside the
// offered items is choice_invalid.
func TestChooserIsBoundToTheBrowser(t *testing.T) {
	fake := onbehalftest.NewProviderFake(t, atlassianLike())
	e := onbehalftest.NewProviderEnv(t, fake)
	page, state := chooserPage(t, e)
	if strings.Contains(page, fake.Expected["cloud"]) || !strings.Contains(page, "Site 2") {
		t.Fatalf("the chooser must show labels only: %s", page)
	}
	// Another browser (no binding cookie) is refused, and the state is used up.
	other := &http.Client{CheckRedirect: e.Browser.CheckRedirect, Transport: e.Browser.Transport}
	resp, err := other.PostForm(e.Server.URL+"/projects/"+e.Project+"/sdk/connect/choose", url.Values{"state": {state}, "item": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc.Query().Get("error") != connect.ErrorStateInvalid {
		t.Fatalf("another browser: %s", resp.Header.Get("Location"))
	}
	if e.Connection(t) != nil {
		t.Fatal("saved from another browser")
	}
	_, state = chooserPage(t, e)
	resp, err = e.Browser.PostForm(e.Server.URL+"/projects/"+e.Project+"/sdk/connect/choose", url.Values{"state": {state}, "item": {"7"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc.Query().Get("error") != connect.ErrorChoiceInvalid {
		t.Fatalf("bad index: %s", resp.Header.Get("Location"))
	}
}

// chooserPage runs the flow up to the chooser and returns its page and state.
func chooserPage(t *testing.T, e *onbehalftest.ProviderEnv) (string, string) {
	t.Helper()
	status, b := e.SDK(t, http.MethodPost, "/connect/"+e.Key+"/start", map[string]any{"returnUrl": onbehalftest.ReturnURL})
	if status != http.StatusOK {
		t.Fatalf("start %d %s", status, b)
	}
	var st struct{ URL string }
	_ = json.Unmarshal(b, &st)
	resp := e.Get(t, st.URL)
	resp = e.Get(t, resp.Header.Get("Location"))
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("no chooser: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "form-action 'self'") || strings.Contains(csp, "script-src") {
		t.Fatalf("chooser CSP %q", csp)
	}
	i := strings.Index(string(page), `name="state" value="`)
	rest := string(page)[i+len(`name="state" value="`):]
	return string(page), rest[:strings.IndexByte(rest, '"')]
}

// TestTemplatedRevocation: a disconnect revokes at auth.revokeUrl expanded
// for the connection's tenant.
func TestTemplatedRevocation(t *testing.T) {
	fake := onbehalftest.NewProviderFake(t, shopifyLike())
	e := onbehalftest.NewProviderEnv(t, fake)
	e.ConnectFlow(t, fake.Inputs)
	c := e.Connection(t)
	if status, _ := e.SDK(t, http.MethodDelete, "/connect/"+e.Key, nil); status != http.StatusNoContent {
		t.Fatal(status)
	}
	if fake.Count("revoke") != 1 || fake.RefreshTokenLive(c.Credential.RefreshToken) {
		t.Fatalf("revocations %d", fake.Count("revoke"))
	}
}

// TestConnectFailedEvent: a lifecycle.Emitter as the connect flow's
// EventSink is also its FailureSink: a connection that fails verification
// becomes a connection.connect_failed event with the code as its reason.
func TestConnectFailedEvent(t *testing.T) {
	var mu sync.Mutex
	var got []lifecycle.Event
	em, err := lifecycle.NewEmitter(lifecycle.EmitterConfig{Handlers: []func(context.Context, lifecycle.Event){
		func(_ context.Context, ev lifecycle.Event) { mu.Lock(); got = append(got, ev); mu.Unlock() }}})
	if err != nil {
		t.Fatal(err)
	}
	var _ connect.FailureSink = em
	cfg := googleLike()
	cfg.Verify.OK = []int{299} // the fake answers 200: "not working"
	e := onbehalftest.NewProviderEnv(t, onbehalftest.NewProviderFake(t, cfg), func(c *connect.Config) { c.Events = em })
	if q := e.ConnectFlow(t, nil).Outcome.Query(); q.Get("error") != connect.ErrorVerificationFailed {
		t.Fatalf("outcome %v", q)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Type != lifecycle.TypeConnectFailed || got[0].Reason != connect.ErrorVerificationFailed ||
		got[0].Project != e.Project || got[0].User != e.User || got[0].Integration != e.Key || got[0].ConnectionID != "" {
		t.Fatalf("events %+v, want one connection.connect_failed (verification_failed) of %s/%s", got, e.User, e.Key)
	}
}
