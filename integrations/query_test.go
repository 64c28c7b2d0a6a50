package integrations_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestQueryParameters: Config.Query adds its templated parameters to an
// outbound request, after the caller's raw query left as written, keeps a
// parameter the caller sent, and is idempotent (a replay after a refresh
// applies again); bad names and credential values are refused at load.
func TestQueryParameters(t *testing.T) {
	cfg := integrations.Config{Type: "custom", Slug: "books", BaseURL: "https://books.example.com/v3",
		Auth:  integrations.SchemeConfig{Type: integrations.AuthOAuth2, TokenURL: "https://books.example.com/token"},
		Query: map[string]string{"organization_id": "{organization_id}", "v": "2 & more"}}
	in, err := integrations.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn := &tokens.Connection{Fields: map[string]string{"organization_id": "org-7"}, Credential: tokens.Credential{AccessToken: "tok"}}
	u := &url.URL{Path: "/v3/invoices", RawQuery: "b=2&a=1"}
	for range 2 {
		if err := in.Apply(http.Header{}, u, conn); err != nil {
			t.Fatal(err)
		}
	}
	if u.RawQuery != "b=2&a=1&organization_id=org-7&v=2+%26+more" {
		t.Fatalf("query %q", u.RawQuery)
	}
	// The caller's own parameter is kept.
	u = &url.URL{Path: "/v3/invoices", RawQuery: "organization_id=org-9"}
	if err := in.Apply(http.Header{}, u, conn); err != nil {
		t.Fatal(err)
	}
	if q := u.Query(); len(q["organization_id"]) != 1 || q.Get("organization_id") != "org-9" || q.Get("v") != "2 & more" {
		t.Fatalf("query %q", u.RawQuery)
	}

	for _, tc := range []struct {
		change func(*integrations.Config)
		want   string
	}{
		{func(c *integrations.Config) { c.Query = map[string]string{"k": "{credential.access_token}"} }, "query.k: template must not use credential values"},
		{func(c *integrations.Config) { c.Query = map[string]string{"a=b": "x"} }, `query: "a=b" is not a query parameter name`},
		{func(c *integrations.Config) {
			c.Auth = integrations.SchemeConfig{Type: integrations.AuthAPIKey, In: "query", Name: "key"}
			c.Query = map[string]string{"key": "x"}
		}, "query.key: is the API key's own parameter"},
	} {
		c := cfg
		tc.change(&c)
		if _, err := integrations.New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
}
