package integrations_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestOAuthTokenHeader: an OAuth2 access token goes in Authorization as
// "Bearer <token>" by default, or in the header auth.name names after
// auth.prefix, and never both.
func TestOAuthTokenHeader(t *testing.T) {
	conn := &tokens.Connection{Credential: tokens.Credential{AccessToken: "tok-1", TokenType: "bearer"}}
	for _, tc := range []struct {
		name, prefix string
		want         map[string]string
	}{
		{"", "", map[string]string{"Authorization": "Bearer tok-1"}},
		{"X-Shopify-Access-Token", "", map[string]string{"X-Shopify-Access-Token": "tok-1", "Authorization": ""}},
		{"Authorization", "Zoho-oauthtoken ", map[string]string{"Authorization": "Zoho-oauthtoken tok-1"}},
	} {
		in, err := integrations.New(integrations.Config{Type: "custom", Slug: "o", BaseURL: "https://api.example.com",
			Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2, TokenURL: "https://api.example.com/token", Name: tc.name, Prefix: tc.prefix}})
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		if err := in.Apply(h, &url.URL{}, conn); err != nil {
			t.Fatal(err)
		}
		for k, v := range tc.want {
			if h.Get(k) != v {
				t.Errorf("name %q prefix %q: %s = %q, want %q", tc.name, tc.prefix, k, h.Get(k), v)
			}
		}
	}
	for _, bad := range []integrations.SchemeConfig{{In: "query", Name: "access_token"}, {Prefix: "Token "}, {Name: "Bad Header"}} {
		bad.Type, bad.TokenURL = integrations.AuthOAuth2, "https://api.example.com/token"
		if _, err := integrations.New(integrations.Config{Type: "custom", Slug: "o", BaseURL: "https://api.example.com", Auth: bad}); err == nil {
			t.Errorf("auth %+v accepted", bad)
		}
	}
}
