package integrations

import (
	"testing"
	"testing/fstest"
)

// TestParseCatalogChecksEntries: catalog parsing compiles each entry
// strictly and names the file and the JSON path of a problem.
func TestParseCatalogChecksEntries(t *testing.T) {
	if _, err := parseCatalog(catalogFiles); err != nil {
		t.Fatalf("the embedded catalog: %v", err)
	}
	bad := `{"type":"acme","docs":"https://acme.example/docs","baseUrl":"https://api.acme.example/{tenant}",
		"auth":{"type":"oauth2","authUrl":"https://acme.example/a","tokenUrl":"https://acme.example/t"}}`
	_, err := parseCatalog(fstest.MapFS{"catalog/acme.json": {Data: []byte(bad)}})
	want := `integrations: catalog/acme.json: baseUrl: template names unknown field "tenant"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	// The same entry as a project's config declares nothing: not checked.
	if _, err := New(Config{Type: "custom", Slug: "acme", BaseURL: "https://api.acme.example/{tenant}"}); err != nil {
		t.Fatal(err)
	}
}

// TestWithDefaultsSchema: a catalog entry's connection-life fields reach a
// project's config, and the project's non-zero fields override them.
func TestWithDefaultsSchema(t *testing.T) {
	def := Config{Type: "x", BaseURL: "https://api.x.example",
		Auth: SchemeConfig{Type: AuthOAuth2, RefreshURL: "https://id.x.example/r", RevokeURL: "https://id.x.example/v",
			RevokeStyle: RevokeBearer, RevokeMethod: "DELETE", AuthParams: map[string]string{"access_type": "offline", "prompt": "select_account"}, ReauthParams: map[string]string{"prompt": "consent"},
			TokenParams: map[string]string{"a": "1"}, RefreshParams: map[string]string{"b": "2"}, ScopeParam: "user_scope", ScopeSeparator: ",",
			PKCE: PKCERequired, TokenBody: TokenBodyJSON, TokenPaths: TokenPaths{AccessToken: "x.t"}, DefaultLifetimeSeconds: 60},
		Query:  map[string]string{"organization_id": "{i}"},
		Inputs: []Input{{Name: "i"}}, Capture: []Capture{{Field: "c", From: CaptureToken, Path: "c"}},
		Lookups: []Lookup{{URL: "https://api.x.example/l", Fields: map[string]string{"l": "id"}}},
		Verify:  &Verification{Path: "/me"}, DeadTokens: []DeadToken{{Status: 403}}, RefreshRules: &RefreshRules{Rotates: true}}
	got := withDefaults(Config{Type: "x"}, cloneConfig(def))
	a := got.Auth
	if a.RefreshURL != def.Auth.RefreshURL || a.RevokeURL != def.Auth.RevokeURL || a.RevokeStyle != RevokeBearer || a.RevokeMethod != "DELETE" || a.AuthParams["access_type"] != "offline" ||
		a.ReauthParams["prompt"] != "consent" || a.TokenParams["a"] != "1" || a.RefreshParams["b"] != "2" || a.ScopeParam != "user_scope" ||
		a.ScopeSeparator != "," || a.PKCE != PKCERequired || a.TokenBody != TokenBodyJSON || a.TokenPaths.AccessToken != "x.t" ||
		a.DefaultLifetimeSeconds != 60 || got.Query["organization_id"] != "{i}" || len(got.Inputs) != 1 || len(got.Capture) != 1 || len(got.Lookups) != 1 ||
		got.Verify == nil || len(got.DeadTokens) != 1 || got.RefreshRules == nil {
		t.Fatalf("entry's fields not merged: %+v", got)
	}
	own := Config{Type: "x", Auth: SchemeConfig{PKCE: PKCEOff, AuthParams: map[string]string{"prompt": "", "hd": "acme.example"},
		DefaultLifetimeSeconds: 30}, Inputs: []Input{}, Verify: &Verification{Path: "/other"}}
	got = withDefaults(own, cloneConfig(def))
	if got.Auth.PKCE != PKCEOff || got.Auth.DefaultLifetimeSeconds != 30 || len(got.Inputs) != 0 || got.Verify.Path != "/other" ||
		got.Auth.AuthParams["access_type"] != "offline" || got.Auth.AuthParams["hd"] != "acme.example" {
		t.Fatalf("project's fields do not override: %+v", got)
	}
	// A project's own revocation endpoint keeps its own (default) style.
	got = withDefaults(Config{Type: "x", Auth: SchemeConfig{RevokeURL: "https://id.x.example/rfc7009"}}, cloneConfig(def))
	if got.Auth.RevokeStyle != "" || got.Auth.RevokeMethod != "" {
		t.Fatalf("the entry's revocation style reached a project's own revokeUrl: %+v", got.Auth)
	}
	got = withDefaults(own, cloneConfig(def))
	if _, ok := got.Auth.AuthParams["prompt"]; ok {
		t.Fatal("an empty parameter value must remove the entry's parameter")
	}
	// cloneConfig copies deeply: changing the copy leaves the entry alone.
	c := cloneConfig(def)
	c.Auth.AuthParams["access_type"] = "online"
	c.Lookups[0].Fields["l"] = "changed"
	c.Verify.Path = "/changed"
	if def.Auth.AuthParams["access_type"] != "offline" || def.Lookups[0].Fields["l"] != "id" || def.Verify.Path != "/me" {
		t.Fatal("cloneConfig shares state with the entry")
	}
}
