package integrations_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
)

// shopLike is a valid config using the connection-life schema: a
// per-tenant OAuth provider with an input, a callback capture and a lookup.
func shopLike() integrations.Config {
	return integrations.Config{
		Type: "custom", Slug: "shoplike",
		BaseURL:      "https://{shop}.shops.example/api/{account}",
		AllowedHosts: []string{"*.shops.example", "id.shops.example"},
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2,
			AuthURL:    "https://{shop}.shops.example/oauth/authorize",
			TokenURL:   "https://{shop}.shops.example/oauth/token?realm={realm}",
			AuthParams: map[string]string{"access_type": "offline"}},
		Inputs:  []integrations.Input{{Name: "shop", Pattern: "[a-z0-9-]{1,40}", Example: "acme"}},
		Capture: []integrations.Capture{{Field: "realm", From: integrations.CaptureCallback, Path: "realmId"}},
		Lookups: []integrations.Lookup{{URL: "https://id.shops.example/accounts", Fields: map[string]string{"account": "id"}}},
	}
}

// TestConfigValidation holds one rule per case: each case breaks the valid
// config in one way and wants the error to name the JSON path; removing
// the rule makes its case pass New and fail here.
func TestConfigValidation(t *testing.T) {
	if _, err := integrations.New(shopLike()); err != nil {
		t.Fatalf("the valid config: %v", err)
	}
	cases := []struct {
		name   string
		change func(*integrations.Config)
		want   string
	}{
		{"unknown field in tokenUrl", func(c *integrations.Config) {
			c.Auth.TokenURL = "https://{shp}.shops.example/oauth/token"
		}, `auth.tokenUrl: template names unknown field "shp"`},
		{"token-answer field in authUrl", func(c *integrations.Config) {
			c.Auth.AuthURL = "https://{shop}.shops.example/oauth/authorize?a={account}"
		}, `auth.authUrl: template names unknown field "account"`},
		{"callback capture not yet known at authorize", func(c *integrations.Config) {
			c.Auth.AuthParams = map[string]string{"r": "{realm}"}
		}, `auth.authParams.r: template names unknown field "realm"`},
		{"lookup field not known by the exchange", func(c *integrations.Config) {
			c.Auth.TokenParams = map[string]string{"a": "{account}"}
		}, `auth.tokenParams.a: template names unknown field "account"`},
		{"unknown field in baseUrl", func(c *integrations.Config) {
			c.BaseURL = "https://{shop}.shops.example/api/{acount}"
		}, `baseUrl: template names unknown field "acount"`},
		{"unknown field in a header", func(c *integrations.Config) {
			c.Headers = map[string]string{"X-Tenant": "{tenant}"}
		}, `headers.X-Tenant: template names unknown field "tenant"`},
		{"unknown credential value", func(c *integrations.Config) {
			c.Headers = map[string]string{"X-Key": "{credential.secret}"}
		}, `headers.X-Key: template names unknown credential value "credential.secret"`},
		{"credential in an OAuth endpoint", func(c *integrations.Config) {
			c.Auth.RevokeURL = "https://id.shops.example/revoke?t={credential.access_token}"
		}, `auth.revokeUrl: template must not use credential values`},
		{"lookup using a later lookup's field", func(c *integrations.Config) {
			c.Lookups = append([]integrations.Lookup{{URL: "https://id.shops.example/u/{account}", Fields: map[string]string{"user": "id"}}}, c.Lookups...)
		}, `lookups[0].url: template names unknown field "account"`},
		{"lookup without fields", func(c *integrations.Config) {
			c.Lookups[0].Fields = nil
		}, `lookups[0].fields: required`},
		{"lookup without url", func(c *integrations.Config) { c.Lookups[0].URL = "" }, `lookups[0].url: required`},
		{"lookup on a host allowedHosts does not cover", func(c *integrations.Config) {
			c.Lookups = append(c.Lookups, integrations.Lookup{URL: "https://evil.example/x", Fields: map[string]string{"x": "id"}})
		}, `lookups[1].url: host "evil.example" is not covered by allowedHosts`},
		{"lookup bad field path", func(c *integrations.Config) {
			c.Lookups[0].Fields = map[string]string{"account": "a..b"}
		}, `lookups[0].fields.account: "a..b" is not a dotted path`},
		{"lookup choose", func(c *integrations.Config) { c.Lookups[0].Choose = "all" }, `lookups[0].choose: must be first or user`},
		{"lookup chooser without label", func(c *integrations.Config) {
			c.Lookups[0].Choose = integrations.ChooseUser
		}, `lookups[0].label: required when choose is user`},
		{"lookup method", func(c *integrations.Config) { c.Lookups[0].Method = "get" }, `lookups[0].method: "get" is not GET`},
		{"templated token host not covered", func(c *integrations.Config) {
			c.Auth.TokenURL = "https://{shop}.other.example/oauth/token"
		}, `auth.tokenUrl: host "{shop}.other.example" is not covered by allowedHosts`},
		{"templated refresh host without allowedHosts", func(c *integrations.Config) {
			c.AllowedHosts = nil
			c.BaseURL = "https://api.shops.example/{account}"
			c.Auth.AuthURL = "https://id.shops.example/authorize"
			c.Auth.TokenURL = "https://id.shops.example/token"
			c.Lookups[0].URL = "https://api.shops.example/accounts"
			c.Auth.RefreshURL = "https://{shop}.shops.example/refresh"
		}, `auth.refreshUrl: a host that comes from the connection needs allowedHosts`},
		{"input pattern", func(c *integrations.Config) { c.Inputs[0].Pattern = "[a-" }, `inputs[0].pattern: not an RE2 regular expression`},
		{"input example against pattern", func(c *integrations.Config) { c.Inputs[0].Example = "Acme Inc." }, `inputs[0].example: "Acme Inc." does not match the pattern`},
		{"input name", func(c *integrations.Config) { c.Inputs[0].Name = "my-shop" }, `inputs[0].name: "my-shop" is not a field name`},
		{"input without name", func(c *integrations.Config) { c.Inputs[0].Name = "" }, `inputs[0].name: required`},
		{"secret input name", func(c *integrations.Config) {
			c.Inputs = append(c.Inputs, integrations.Input{Name: "token", Secret: true})
		}, `inputs[1].secret: a secret input is stored in the credential`},
		{"field declared twice", func(c *integrations.Config) {
			c.Capture = append(c.Capture, integrations.Capture{Field: "shop", From: integrations.CaptureToken, Path: "shop"})
		}, `capture[1].field: field "shop" is already declared by inputs[0].name`},
		{"capture source", func(c *integrations.Config) {
			c.Capture = append(c.Capture, integrations.Capture{Field: "a", From: "body", Path: "x"}, integrations.Capture{Field: "b", From: "token", Path: "y"})
		}, `capture[1].from: must be token, callback or id_token`},
		{"capture path", func(c *integrations.Config) { c.Capture[0].Path = "" }, `capture[0].path: required`},
		{"capture of an OAuth parameter", func(c *integrations.Config) { c.Capture[0].Path = "code" }, `capture[0].path: "code" is an OAuth parameter`},
		{"capture outside OAuth", func(c *integrations.Config) {
			c.Auth = integrations.SchemeConfig{Type: integrations.AuthAPIKey}
		}, `capture: captures and lookups run in the OAuth connect flow`},
		{"pkce", func(c *integrations.Config) { c.Auth.PKCE = "sometimes" }, `auth.pkce: must be required, optional or off`},
		{"token capture path", func(c *integrations.Config) {
			c.Capture = append(c.Capture, integrations.Capture{Field: "t", From: integrations.CaptureToken, Path: "team..id"})
		}, `capture[1].path: "team..id" is not a dotted path`},
		{"scope param", func(c *integrations.Config) { c.Auth.ScopeParam = "user scope" }, `auth.scopeParam: "user scope" is not a parameter name`},
		{"lookup items path", func(c *integrations.Config) { c.Lookups[0].Items = ".x" }, `lookups[0].items: ".x" is not a dotted path`},
		{"lookup label path", func(c *integrations.Config) { c.Lookups[0].Label = "x." }, `lookups[0].label: "x." is not a dotted path`},
		{"lookup header field", func(c *integrations.Config) {
			c.Lookups[0].Headers = map[string]string{"X-Account": "{account}"}
		}, `lookups[0].headers.X-Account: template names unknown field "account"`},
		{"auth style", func(c *integrations.Config) { c.Auth.AuthStyle = "auto" }, `auth.authStyle: must be "header", "params" or ""`},
		{"token url required", func(c *integrations.Config) { c.Auth.TokenURL = "" }, `auth.tokenUrl: required for oauth2`},
		{"token url not a URL", func(c *integrations.Config) {
			c.Auth.TokenURL = "ftp://id.shops.example/token"
		}, `auth.tokenUrl: must be an absolute http(s) URL`},
		{"token body", func(c *integrations.Config) { c.Auth.TokenBody = "xml" }, `auth.tokenBody: must be form or json`},
		{"revoke style", func(c *integrations.Config) {
			c.Auth.RevokeURL, c.Auth.RevokeStyle = "https://id.shops.example/revoke", "token"
		}, `auth.revokeStyle: must be rfc7009 or bearer`},
		{"revoke style without url", func(c *integrations.Config) { c.Auth.RevokeStyle = integrations.RevokeBearer }, `auth.revokeStyle: needs auth.revokeUrl`},
		{"revoke method", func(c *integrations.Config) {
			c.Auth.RevokeURL, c.Auth.RevokeStyle, c.Auth.RevokeMethod = "https://id.shops.example/revoke", integrations.RevokeBearer, "GET"
		}, `auth.revokeMethod: must be POST or DELETE`},
		{"revoke method on rfc7009", func(c *integrations.Config) {
			c.Auth.RevokeURL, c.Auth.RevokeMethod = "https://id.shops.example/revoke", "DELETE"
		}, `auth.revokeMethod: only for revokeStyle bearer`},
		{"token paths", func(c *integrations.Config) {
			c.Auth.TokenPaths.AccessToken = "authed_user."
		}, `auth.tokenPaths.accessToken: "authed_user." is not a dotted path`},
		{"default lifetime", func(c *integrations.Config) { c.Auth.DefaultLifetimeSeconds = -1 }, `auth.defaultLifetimeSeconds: must not be negative`},
		{"token expiresAt path", func(c *integrations.Config) { c.Auth.TokenPaths.ExpiresAt = "a..b" }, `auth.tokenPaths.expiresAt: "a..b" is not a dotted path`},
		{"scope separator", func(c *integrations.Config) { c.Auth.ScopeSeparator = ";" }, `auth.scopeSeparator: must be`},
		{"reserved auth parameter", func(c *integrations.Config) {
			c.Auth.AuthParams = map[string]string{"redirect_uri": "https://evil.example"}
		}, `auth.authParams.redirect_uri: is set by the flow itself`},
		{"reserved refresh parameter", func(c *integrations.Config) {
			c.Auth.RefreshParams = map[string]string{"grant_type": "password"}
		}, `auth.refreshParams.grant_type: is set by the flow itself`},
		{"oauth endpoint on an api-key scheme", func(c *integrations.Config) {
			c.Capture, c.Lookups = nil, nil
			c.BaseURL = "https://{shop}.shops.example/api"
			c.Auth = integrations.SchemeConfig{Type: integrations.AuthAPIKey, RevokeURL: "https://id.shops.example/revoke"}
		}, `auth.revokeUrl: only for oauth2`},
		{"verify path field", func(c *integrations.Config) {
			c.Verify = &integrations.Verification{Path: "/users/{user}"}
		}, `verify.path: template names unknown field "user"`},
		{"verify status", func(c *integrations.Config) {
			c.Verify = &integrations.Verification{Path: "/me", OK: []int{42}}
		}, `verify.ok[0]: 42 is not an HTTP status`},
		{"dead token status", func(c *integrations.Config) {
			c.DeadTokens = []integrations.DeadToken{{Status: 0}}
		}, `deadTokens[0].status: 0 is not 4xx or 5xx`},
		{"refresh rules", func(c *integrations.Config) {
			c.RefreshRules = &integrations.RefreshRules{IdleSeconds: -5}
		}, `refreshRules.idleSeconds: must not be negative`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := shopLike()
			tc.change(&cfg)
			_, err := integrations.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v\nwant an error containing %q", err, tc.want)
			}
			var ce *integrations.ConfigError
			if !errors.As(err, &ce) || !strings.HasPrefix(tc.want, ce.Path+":") {
				t.Fatalf("want a *ConfigError whose Path starts %q, got %#v", tc.want, err)
			}
		})
	}
}

// TestConfigValidationLegacy: a config that declares no inputs, captures
// or lookups may name any field in its templates (filled by
// connect.Config.CaptureFields or an import), while a static OAuth
// endpoint on another host than the API is allowed as is.
func TestConfigValidationLegacy(t *testing.T) {
	cfg := integrations.Config{Type: "custom", Slug: "legacy", BaseURL: "https://api.legacy.example/{workspace}",
		Headers: map[string]string{"X-Org": "{org}"},
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2, AuthURL: "https://login.other.example/authorize",
			TokenURL: "https://login.other.example/token", RevokeURL: "https://login.other.example/revoke"}}
	if _, err := integrations.New(cfg); err != nil {
		t.Fatalf("legacy config: %v", err)
	}
	// Declaring one input turns the check on.
	cfg.Inputs = []integrations.Input{{Name: "workspace"}}
	if _, err := integrations.New(cfg); err == nil || !strings.Contains(err.Error(), `headers.X-Org: template names unknown field "org"`) {
		t.Fatalf("with an input declared: %v", err)
	}
	// The well-known fields stay usable without a declaration.
	cfg.Headers = map[string]string{"X-Org": "{cloud_id}"}
	if _, err := integrations.New(cfg); err != nil {
		t.Fatalf("well-known field: %v", err)
	}
}
