package connect_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestConnectFlow: start → TaskLab consent → callback → the connection is
// saved with its extra fields, and the proxy uses it.
func TestConnectFlow(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "alice", nil)

	au, err := url.Parse(s.authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := au.Query()
	if got, want := q.Get("redirect_uri"), e.connect.RedirectURI(project); got != want {
		t.Errorf("redirect_uri %q, want %q", got, want)
	}
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 43 {
		t.Errorf("authorization URL lacks PKCE S256 or a 32-byte state: %s", s.authURL)
	}
	if q.Has("code_verifier") || q.Get("scope") != "tasks.read tasks.write" || q.Get("client_id") != "tl-client" {
		t.Errorf("authorization URL: %s", s.authURL)
	}
	if len(s.cookies) != 1 || !s.cookies[0].HttpOnly || s.cookies[0].SameSite != http.SameSiteLaxMode ||
		s.cookies[0].Path != "/projects/"+project+"/sdk/connect/callback" {
		t.Errorf("binding cookie: %+v", s.cookies)
	}

	cb := consent(t, s.authURL, true)
	out := e.callback(t, cb, s.cookies)
	wantOutcome(t, out, connect.StatusConnected, "")
	if !strings.HasPrefix(out.String(), e.connect.PortalURL(project)+"?") || out.Query().Get("integration") != "custom.tasklab" {
		t.Errorf("redirected to %s, want the portal", out)
	}
	// Nothing secret in the outcome URL.
	for _, secret := range []string{"code=", "state=", "tl-at-", "tl-rt-", "tl-code-"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("outcome URL holds %q: %s", secret, out)
		}
	}
	if e.tl.Exchanges() != 1 {
		t.Errorf("TaskLab verified %d PKCE exchanges, want 1", e.tl.Exchanges())
	}
	c := e.stored(t, "alice")
	if c == nil || c.Credential.AccessToken == "" || c.Credential.RefreshToken == "" || c.Credential.Expiry.IsZero() ||
		c.ID != out.Query().Get("credentialId") {
		t.Fatalf("stored connection %+v", c)
	}
	// The token's lifetime is known, so the refresher's margin stays within
	// a fraction of it.
	if !c.Credential.ObtainedAt.Equal(e.clock().Round(0)) {
		t.Errorf("ObtainedAt %v, want the connect time %v", c.Credential.ObtainedAt, e.clock())
	}
	if c.Fields["instance_url"] != "https://eu1.tasklab.test" || c.Fields["workspace"] != "ws-42" || c.Fields["ignored"] != "" {
		t.Errorf("fields %v: want the well-known instance_url and the configured workspace only", c.Fields)
	}

	resp := e.call(t, http.MethodGet, "alice", "/proxy/custom.tasklab/tasks", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"Write the proxy"`) {
		t.Fatalf("proxy with the new connection: %d %s", resp.StatusCode, body)
	}
}

// TestCallbackFailures: every failure ends in a 303 with an error code and no
// saved connection.
func TestCallbackFailures(t *testing.T) {
	e := newEnv(t)
	cbBase := e.connect.RedirectURI(project)

	t.Run("access denied", func(t *testing.T) {
		s := e.start(t, "u-deny", nil)
		out := e.callback(t, consent(t, s.authURL, false), s.cookies)
		wantOutcome(t, out, connect.StatusError, connect.ErrorAccessDenied)
		if out.Query().Get("integration") != "custom.tasklab" || e.stored(t, "u-deny") != nil {
			t.Errorf("outcome %s or a saved connection", out)
		}
	})
	t.Run("no state", func(t *testing.T) {
		out := e.callback(t, cbBase+"?code=abc", nil)
		wantOutcome(t, out, connect.StatusError, connect.ErrorStateInvalid)
		if !strings.HasPrefix(out.String(), e.connect.PortalURL(project)+"?") {
			t.Errorf("without a state the outcome goes to the portal, got %s", out)
		}
	})
	t.Run("forged state", func(t *testing.T) {
		out := e.callback(t, cbBase+"?code=abc&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil)
		wantOutcome(t, out, connect.StatusError, connect.ErrorStateInvalid)
	})
	t.Run("replayed state", func(t *testing.T) {
		// Defends against a callback URL reused from history or a log.
		s := e.start(t, "u-replay", nil)
		cb := consent(t, s.authURL, true)
		wantOutcome(t, e.callback(t, cb, s.cookies), connect.StatusConnected, "")
		before := e.tl.Exchanges()
		wantOutcome(t, e.callback(t, cb, s.cookies), connect.StatusError, connect.ErrorStateInvalid)
		if e.tl.Exchanges() != before {
			t.Error("a replayed state reached the token endpoint")
		}
	})
	t.Run("expired state", func(t *testing.T) {
		s := e.start(t, "u-late", nil)
		cb := consent(t, s.authURL, true)
		e.advance(10*time.Minute + time.Second)
		defer e.advance(-(10*time.Minute + time.Second))
		wantOutcome(t, e.callback(t, cb, s.cookies), connect.StatusError, connect.ErrorStateExpired)
		if e.stored(t, "u-late") != nil {
			t.Error("an expired state saved a connection")
		}
	})
	t.Run("other browser", func(t *testing.T) {
		// Login CSRF: an attacker starts a flow as themselves and sends the
		// provider link to a victim; the victim's browser lacks the binding cookie.
		s := e.start(t, "attacker", nil)
		cb := consent(t, s.authURL, true)
		wantOutcome(t, e.callback(t, cb, nil), connect.StatusError, connect.ErrorStateInvalid)
		stolen := &http.Cookie{Name: s.cookies[0].Name, Value: "guessed"}
		s2 := e.start(t, "attacker", nil)
		wantOutcome(t, e.callback(t, consent(t, s2.authURL, true), []*http.Cookie{stolen}), connect.StatusError, connect.ErrorStateInvalid)
		if e.stored(t, "attacker") != nil {
			t.Error("a callback from another browser saved a connection")
		}
	})
	t.Run("state of another project", func(t *testing.T) {
		s := e.start(t, "u-proj", nil)
		cb, _ := url.Parse(consent(t, s.authURL, true))
		cb.Path = strings.Replace(cb.Path, "/projects/"+project+"/", "/projects/other/", 1)
		resp := e.call(t, http.MethodGet, "", cb.String(), nil, s.cookies...)
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "error=state_invalid") {
			t.Errorf("got %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if e.stored(t, "u-proj") != nil {
			t.Error("saved")
		}
	})
	t.Run("exchange failure", func(t *testing.T) {
		s := e.start(t, "u-code", nil)
		cb, _ := url.Parse(consent(t, s.authURL, true))
		q := cb.Query()
		q.Set("code", "tl-code-forged")
		cb.RawQuery = q.Encode()
		wantOutcome(t, e.callback(t, cb.String(), s.cookies), connect.StatusError, connect.ErrorExchangeFailed)
	})
	t.Run("provider error", func(t *testing.T) {
		s := e.start(t, "u-err", nil)
		cb, _ := url.Parse(consent(t, s.authURL, true))
		q := cb.Query()
		q.Del("code")
		q.Set("error", "server_error")
		cb.RawQuery = q.Encode()
		wantOutcome(t, e.callback(t, cb.String(), s.cookies), connect.StatusError, connect.ErrorProvider)
	})
}

// TestStateBoundToUser: the connection lands on the user who started, never
// on another; a concurrent second flow of the same user is independent.
func TestStateBoundToUser(t *testing.T) {
	e := newEnv(t)
	sa := e.start(t, "alice", nil)
	sb := e.start(t, "bob", nil)
	cbA := consent(t, sa.authURL, true)
	// Bob's binding cookie does not open Alice's state.
	wantOutcome(t, e.callback(t, cbA, sb.cookies), connect.StatusError, connect.ErrorStateInvalid)
	wantOutcome(t, e.callback(t, consent(t, sb.authURL, true), sb.cookies), connect.StatusConnected, "")
	if e.stored(t, "alice") != nil || e.stored(t, "bob") == nil {
		t.Fatal("the connection did not land on the user who started it")
	}
	resp := e.call(t, http.MethodGet, "alice", "/me", nil)
	var me struct {
		Integrations map[string]struct {
			Enabled bool `json:"enabled"`
		} `json:"integrations"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&me)
	if me.Integrations["custom.tasklab"].Enabled {
		t.Error("alice sees bob's connection")
	}
}

// TestStartChecks: authentication, the integration's scheme, the body and
// the return URL are checked before any state is kept.
func TestStartChecks(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, user, path string
		body             any
		status           int
		code             string
	}{
		{"no token", "", "/connect/custom.tasklab/start", nil, 401, "AUTH_TOKEN_MISSING"},
		{"unknown integration", "u", "/connect/nope/start", nil, 404, "INTEGRATION_NOT_FOUND"},
		{"api key integration", "u", "/connect/stripe/start", nil, 400, "CONNECT_UNSUPPORTED"},
		{"bad body", "u", "/connect/custom.tasklab/start", "[1,2]", 400, "BAD_REQUEST"},
		// Open-redirect attempts: each must be refused at start, 400.
		{"other host", "u", "/connect/custom.tasklab/start", map[string]string{"returnUrl": "https://evil.example.com/settings"}, 400, "CONNECT_RETURN_URL_NOT_ALLOWED"},
		{"suffix host", "u", "/connect/custom.tasklab/start", map[string]string{"returnUrl": "https://app.example.com.evil.com/settings"}, 400, "CONNECT_RETURN_URL_NOT_ALLOWED"},
		{"prefix without boundary", "u", "/connect/custom.tasklab/start", map[string]string{"returnUrl": "https://app.example.com/settingsevil"}, 400, "CONNECT_RETURN_URL_NOT_ALLOWED"},
		{"http downgrade", "u", "/connect/custom.tasklab/start", map[string]string{"returnUrl": "http://app.example.com/settings"}, 400, "CONNECT_RETURN_URL_NOT_ALLOWED"},
		{"userinfo", "u", "/connect/custom.tasklab/start", map[string]string{"returnUrl": "https://app.example.com@evil.com/settings"}, 400, "CONNECT_RETURN_URL_NOT_ALLOWED"},
		{"dot segments", "u", "/connect/custom.tasklab/start", map[string]string{"returnUrl": "https://app.example.com/settings/../admin"}, 400, "CONNECT_RETURN_URL_NOT_ALLOWED"},
		{"encoded dots", "u", "/connect/custom.tasklab/start", map[string]string{"returnUrl": "https://app.example.com/settings/%2e%2e/admin"}, 400, "CONNECT_RETURN_URL_NOT_ALLOWED"},
		{"backslash", "u", "/connect/custom.tasklab/start", map[string]string{"returnUrl": `https://app.example.com/settings\..\admin`}, 400, "CONNECT_RETURN_URL_NOT_ALLOWED"},
		{"javascript", "u", "/connect/custom.tasklab/start", map[string]string{"returnUrl": "javascript:alert(1)"}, 400, "CONNECT_RETURN_URL_NOT_ALLOWED"},
		{"protocol relative", "u", "/connect/custom.tasklab/start", map[string]string{"returnUrl": "//evil.example.com/x"}, 400, "CONNECT_RETURN_URL_NOT_ALLOWED"},
		{"fragment", "u", "/connect/custom.tasklab/start", map[string]string{"returnUrl": "https://app.example.com/settings#x"}, 400, "CONNECT_RETURN_URL_NOT_ALLOWED"},
		{"allowed", "u", "/connect/custom.tasklab/start", map[string]string{"returnUrl": "https://app.example.com/settings/integrations?tab=2"}, 200, ""},
		{"portal itself", "u", "/connect/custom.tasklab/start", map[string]string{"returnUrl": e.connect.PortalURL(project)}, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any = tc.body
			if s, ok := tc.body.(string); ok {
				body = json.RawMessage(s)
			}
			resp := e.call(t, http.MethodPost, tc.user, tc.path, body)
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.code != "" {
				if b := errorBody(t, resp); b.Code != tc.code {
					t.Fatalf("code %q, want %q", b.Code, tc.code)
				}
			}
		})
	}
	t.Run("method", func(t *testing.T) {
		if resp := e.call(t, http.MethodGet, "u", "/connect/custom.tasklab/start", nil); resp.StatusCode != 405 {
			t.Fatalf("GET start: %d", resp.StatusCode)
		}
	})
}

// TestReturnURLOutcome: an allowed return URL receives the outcome, its own
// query kept.
func TestReturnURLOutcome(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "carol", map[string]string{"returnUrl": "https://app.example.com/settings/integrations?tab=2"})
	out := e.callback(t, consent(t, s.authURL, false), s.cookies)
	if out.Host != "app.example.com" || out.Path != "/settings/integrations" || out.Query().Get("tab") != "2" {
		t.Fatalf("outcome went to %s", out)
	}
	wantOutcome(t, out, connect.StatusError, connect.ErrorAccessDenied)
}

// TestSkipBrowserBinding: a start called by a backend (no cookie) completes
// when binding is off.
func TestSkipBrowserBinding(t *testing.T) {
	e := newEnv(t, func(c *connect.Config) { c.SkipBrowserBinding = true })
	s := e.start(t, "dave", nil)
	if len(s.cookies) != 0 {
		t.Fatalf("cookies set: %v", s.cookies)
	}
	wantOutcome(t, e.callback(t, consent(t, s.authURL, true), nil), connect.StatusConnected, "")
}

// TestMeLifecycle: /sdk/me follows a connection from connected to
// needs_reauth (after which a reconnect clears the mark on the same
// connection) to disconnected.
func TestMeLifecycle(t *testing.T) {
	e := newEnv(t)
	status := func() (bool, string, string) {
		resp := e.call(t, http.MethodGet, "erin", "/me", nil)
		var me struct {
			Integrations map[string]struct {
				Enabled          bool   `json:"enabled"`
				CredentialID     string `json:"credentialId"`
				CredentialStatus string `json:"credentialStatus"`
			} `json:"integrations"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&me); err != nil {
			t.Fatal(err)
		}
		m := me.Integrations["custom.tasklab"]
		return m.Enabled, m.CredentialStatus, m.CredentialID
	}
	if en, st, _ := status(); en || st != "" {
		t.Fatalf("before: %v %q", en, st)
	}
	wantOutcome(t, e.connectUser(t, "erin"), connect.StatusConnected, "")
	en, st, id := status()
	if !en || st != "VALID" || id == "" {
		t.Fatalf("connected: %v %q %q", en, st, id)
	}

	c := e.stored(t, "erin")
	c.Status = tokens.StatusNeedsReauth
	if err := e.store.Save(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if en, st, _ := status(); en || st != "INVALID" {
		t.Fatalf("needs_reauth: %v %q", en, st)
	}
	if resp := e.call(t, http.MethodGet, "erin", "/proxy/custom.tasklab/tasks", nil); resp.StatusCode != 403 {
		t.Fatalf("proxy on needs_reauth: %d", resp.StatusCode)
	}

	wantOutcome(t, e.connectUser(t, "erin"), connect.StatusConnected, "")
	en, st, id2 := status()
	if !en || st != "VALID" || id2 != id {
		t.Fatalf("reconnected: %v %q %q (was %q): want the same connection, valid", en, st, id2, id)
	}
	if resp := e.call(t, http.MethodGet, "erin", "/proxy/custom.tasklab/tasks", nil); resp.StatusCode != 200 {
		t.Fatalf("proxy after reconnect: %d", resp.StatusCode)
	}

	if resp := e.call(t, http.MethodDelete, "erin", "/connect/custom.tasklab", nil); resp.StatusCode != 204 {
		t.Fatalf("disconnect: %d", resp.StatusCode)
	}
	if en, st, id := status(); en || st != "" || id != "" {
		t.Fatalf("disconnected: %v %q %q", en, st, id)
	}
}
