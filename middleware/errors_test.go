package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// flakyStore fails every call while down is set.
type flakyStore struct {
	tokens.Store
	down bool
}

func (s *flakyStore) Get(ctx context.Context, k tokens.Key) (*tokens.Connection, error) {
	if s.down {
		return nil, errors.New("dial tcp 10.0.0.5:6379: connection refused")
	}
	return s.Store.Get(ctx, k)
}

func (s *flakyStore) List(ctx context.Context, p, u string) ([]*tokens.Connection, error) {
	if s.down {
		return nil, errors.New("dial tcp 10.0.0.5:6379: connection refused")
	}
	return s.Store.List(ctx, p, u)
}

// TestProxyErrors: every error the proxy produces is JSON with the right
// status and a stable code, and nothing is forwarded.
func TestProxyErrors(t *testing.T) {
	var flaky *flakyStore
	e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{Configure: func(c *middleware.Config) {
		flaky = &flakyStore{Store: c.Store}
		c.Store = flaky
		c.Forwarder.MaxRequestBytes = 1024
		c.Projects[0].Integrations = append(c.Projects[0].Integrations,
			integrations.Config{Type: "github", BaseURL: "https://api.github.com", Auth: integrations.SchemeConfig{Type: integrations.AuthAPIKey}},
			integrations.Config{Type: "salesforce", BaseURL: "{instance_url}/services/data/v60.0", AllowedHosts: []string{"*.my.salesforce.com"},
				Auth: integrations.SchemeConfig{Type: integrations.AuthAPIKey}})
	}})
	reauth := connect(t, e, "github", tokens.Credential{APIKey: "k"}, nil)
	reauth.Status = tokens.StatusNeedsReauth
	if err := e.Store.Save(t.Context(), reauth); err != nil {
		t.Fatal(err)
	}
	connect(t, e, "salesforce", tokens.Credential{APIKey: "k"}, map[string]string{"instance_url": "https://evil.example.com"})
	big := strings.Repeat("x", 2048)
	cases := []struct {
		name   string
		method string
		url    string
		body   *string
		header http.Header
		down   bool
		status int
		code   string
		msg    string
	}{
		{"unknown integration", "GET", e.ProxyURL("nope", "x"), nil, nil, false, 404, "INTEGRATION_NOT_FOUND", ""},
		{"unknown custom id", "GET", e.Server.URL + "/projects/" + e.Project + "/sdk/proxy/custom/nope/x", nil, nil, false, 404, "INTEGRATION_NOT_FOUND", ""},
		{"not connected", "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, http.Header{"Authorization": {"Bearer " + e.Signer.MustToken(e.Project, "stranger")}}, false, 400, "INTEGRATION_NOT_ENABLED", response.MessageNotEnabled},
		{"unknown credential id", "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, http.Header{"X-Paragon-Credential": {"cred-nope"}}, false, 404, "CREDENTIAL_NOT_FOUND", ""},
		{"needs re-authorization", "GET", e.ProxyURL("github", "user"), nil, nil, false, 403, "CONNECTION_REAUTH_REQUIRED", ""},
		{"store down", "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, nil, true, 503, "STORE_UNAVAILABLE", ""},
		{"refused host", "GET", e.ProxyURL("custom.tasklab", "https://evil.example.com/x"), nil, nil, false, 403, "HOST_NOT_ALLOWED", response.MessageDomainInvalid},
		{"IP literal host", "GET", e.ProxyURL("custom.tasklab", "https://169.254.169.254/latest"), nil, nil, false, 403, "HOST_IP_LITERAL", response.MessageDomainInvalid},
		{"templated host outside the allowlist", "GET", e.ProxyURL("salesforce", "sobjects"), nil, nil, false, 403, "HOST_NOT_ALLOWED", response.MessageDomainInvalid},
		{"dot segments", "GET", e.ProxyURL("custom.tasklab", "tasks/%2e%2e/%2e%2e/oauth/token"), nil, nil, false, 400, "PATH_INVALID", ""},
		{"target in path and header", "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, http.Header{"X-Paragon-Proxy-Url": {"/tasks"}}, false, 400, "TARGET_INVALID", ""},
		{"body over the limit", "POST", e.ProxyURL("custom.tasklab", "tasks"), &big, nil, false, 413, "REQUEST_TOO_LARGE", ""},
		{"no such route", "GET", e.Server.URL + "/projects/" + e.Project + "/sdk/nothing", nil, nil, false, 404, "NOT_FOUND", ""},
		{"method not allowed", "DELETE", e.Server.URL + "/projects/" + e.Project + "/sdk/me", nil, nil, false, 405, "METHOD_NOT_ALLOWED", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			flaky.down = tc.down
			defer func() { flaky.down = false }()
			before := e.TaskLab.APICalls()
			resp := e.Do(t, tc.method, tc.url, tc.body, tc.header)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, readBody(t, resp))
			}
			b := errorBody(t, resp)
			if b.Code != tc.code || (tc.msg != "" && b.Message != tc.msg) {
				t.Fatalf("got %+v, want code %s message %q", b, tc.code, tc.msg)
			}
			if resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
			if e.TaskLab.APICalls() != before {
				t.Fatal("the request reached the provider")
			}
			if strings.Contains(b.Message, "10.0.0.5") {
				t.Fatal("the store's error text leaked into the answer")
			}
		})
	}
}

// TestBootstrap: the SDK's /sdk/me and /sdk/integrations answers.
func TestBootstrap(t *testing.T) {
	e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{Configure: func(c *middleware.Config) {
		c.Projects[0].Integrations = append(c.Projects[0].Integrations,
			integrations.Config{Type: "slack", BaseURL: "https://slack.com/api", Auth: integrations.SchemeConfig{Type: integrations.AuthAPIKey}},
			integrations.Config{Type: "hubspot", BaseURL: "https://api.hubapi.com", Auth: integrations.SchemeConfig{Type: integrations.AuthAPIKey}})
	}})
	bad := connect(t, e, "hubspot", tokens.Credential{APIKey: "k"}, nil)
	bad.Status = tokens.StatusNeedsReauth
	_ = e.Store.Save(t.Context(), bad)
	second := connect(t, e, "custom.tasklab", tokens.Credential{AccessToken: "x"}, nil)

	resp := e.Do(t, "GET", e.Server.URL+"/projects/"+e.Project+"/sdk/me", nil, nil)
	var me struct {
		Integrations map[string]struct {
			Enabled          bool   `json:"enabled"`
			CredentialID     string `json:"credentialId"`
			CredentialStatus string `json:"credentialStatus"`
			AllCredentials   []struct {
				ID             string `json:"id"`
				Status         string `json:"status"`
				Configurations []any  `json:"configurations"`
			} `json:"allCredentials"`
		} `json:"integrations"`
	}
	if err := json.Unmarshal(readBody(t, resp), &me); err != nil || resp.StatusCode != 200 {
		t.Fatalf("me: %d %v", resp.StatusCode, err)
	}
	tl := me.Integrations["custom.tasklab"]
	if !tl.Enabled || tl.CredentialID != e.Connection.ID || tl.CredentialStatus != "VALID" || len(tl.AllCredentials) != 2 ||
		tl.AllCredentials[1].ID != second.ID || len(tl.AllCredentials[0].Configurations) != 1 {
		t.Errorf("tasklab entry %+v", tl)
	}
	if hs := me.Integrations["hubspot"]; hs.Enabled || hs.CredentialStatus != "INVALID" {
		t.Errorf("hubspot entry %+v", hs)
	}
	if sl, ok := me.Integrations["slack"]; !ok || sl.Enabled || sl.AllCredentials == nil {
		t.Errorf("slack entry %+v (present %v)", sl, ok)
	}

	resp = e.Do(t, "GET", e.Server.URL+"/projects/"+e.Project+"/sdk/integrations", nil, nil)
	var list []struct {
		ID                string `json:"id"`
		Type              string `json:"type"`
		Name              string `json:"name"`
		IsActive          bool   `json:"isActive"`
		Configs           []any  `json:"configs"`
		CustomIntegration *struct {
			Slug string `json:"slug"`
		} `json:"customIntegration"`
	}
	if err := json.Unmarshal(readBody(t, resp), &list); err != nil || len(list) != 3 {
		t.Fatalf("integrations: %v %+v", err, list)
	}
	if list[0].Type != "custom" || list[0].CustomIntegration == nil || list[0].CustomIntegration.Slug != "custom.tasklab" ||
		list[1].Type != "hubspot" || list[1].CustomIntegration != nil || len(list[1].Configs) != 1 {
		t.Errorf("list %+v", list)
	}
	// Without a token the bootstrap routes answer 401 JSON too.
	req, _ := http.NewRequest("GET", e.Server.URL+"/projects/"+e.Project+"/sdk/me", nil)
	r2, _ := http.DefaultClient.Do(req)
	if b := errorBody(t, r2); r2.StatusCode != 401 || b.Code != "AUTH_TOKEN_MISSING" {
		t.Errorf("me without token: %d %+v", r2.StatusCode, b)
	}
}

// TestRefreshOnExpiry: an expired OAuth2 token is refreshed through the token
// endpoint and saved back before it is used.
func TestRefreshOnExpiry(t *testing.T) {
	e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{AccessTTL: -time.Minute})
	old := e.Connection.Credential
	resp := e.Do(t, "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, nil)
	if body := readBody(t, resp); resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	if e.TaskLab.Refreshes() != 1 {
		t.Fatalf("refreshes %d, want 1", e.TaskLab.Refreshes())
	}
	got, err := e.Store.Get(t.Context(), e.Connection.Key())
	if err != nil {
		t.Fatal(err)
	}
	if got.Credential.AccessToken == old.AccessToken || got.Credential.RefreshToken == old.RefreshToken || !got.Credential.Expiry.After(time.Now()) {
		t.Fatal("the rotated token was not saved")
	}
	// The next call uses the saved token: no further refresh.
	readBody(t, e.Do(t, "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, nil))
	if e.TaskLab.Refreshes() != 1 {
		t.Fatalf("refreshes %d, want still 1", e.TaskLab.Refreshes())
	}
}

// TestRefreshOn401: a token the provider rejects although it looked valid is
// refreshed once and the request (with its body) replayed once.
func TestRefreshOn401(t *testing.T) {
	e := onbehalftest.NewEnv(t)
	e.TaskLab.Revoke(e.Connection.Credential.AccessToken)
	resp := e.Do(t, "POST", e.ProxyURL("custom.tasklab", "tasks"), str(`{"title":"after 401"}`), http.Header{"Content-Type": {"auto"}})
	body := readBody(t, resp)
	if resp.StatusCode != 201 || !strings.Contains(string(body), `"after 401"`) {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	if e.TaskLab.Refreshes() != 1 {
		t.Fatalf("refreshes %d, want 1", e.TaskLab.Refreshes())
	}
}
