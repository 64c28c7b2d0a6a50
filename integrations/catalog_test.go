package integrations_test

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// catalogCase checks one catalog entry against its provider's documentation.
type catalogCase struct {
	typ    string
	fields map[string]string // the connection's fields the base URL needs
	base   string            // the expected base URL for fields
	// sibling is a documented full URL on another host the integration must
	// reach ("" when the provider has none).
	sibling string
	// neighbours are hosts that look like the provider's but are not: they
	// must be refused as full URLs. Every case also gets generated ones.
	neighbours []string
	// hostile replaces a field so that the templated host points elsewhere;
	// BaseURL must refuse it with hosts.ErrHostNotAllowed.
	hostile map[string]string
}

var catalogCases = []catalogCase{
	// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/intro_rest.htm
	// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm
	{typ: "salesforce", fields: map[string]string{"instance_url": "https://acme.my.salesforce.com"},
		base: "https://acme.my.salesforce.com/services/data/v60.0", sibling: "https://acme.lightning.force.com/lightning/o/Account/list",
		neighbours: []string{"evilsalesforce.com", "salesforce.com.evil.com", "salesforce.com", "my.salesforce.com.evil.com", "force.com.evil.com"},
		hostile:    map[string]string{"instance_url": "https://evilsalesforce.com"}},
	// https://developers.google.com/calendar/api/v3/reference
	{typ: "googleCalendar", base: "https://www.googleapis.com/calendar/v3",
		neighbours: []string{"googleapis.com.evil.com", "evilgoogleapis.com"}},
	// https://developers.google.com/drive/api/reference/rest/v3 (uploads under www.googleapis.com/upload)
	// Paragon's type name: https://docs.useparagon.com/managed-sync/integrations/googledrive ("integration": "googledrive")
	{typ: "googledrive", base: "https://www.googleapis.com/drive/v3", sibling: "https://sheets.googleapis.com/v4/spreadsheets",
		neighbours: []string{"drive.google.com.evil.com"}},
	// https://developers.google.com/sheets/api/reference/rest
	{typ: "googlesheets", base: "https://sheets.googleapis.com/v4", sibling: "https://www.googleapis.com/drive/v3/files"},
	// https://developers.google.com/gmail/api/reference/rest
	{typ: "gmail", base: "https://gmail.googleapis.com/gmail/v1", sibling: "https://www.googleapis.com/upload/gmail/v1/users/me/messages/send"},
	// https://docs.slack.dev/apis/web-api/ and https://docs.slack.dev/apis/web-api/rate-limits
	{typ: "slack", base: "https://slack.com/api", sibling: "https://files.slack.com/files-pri/T1-F1/report.pdf",
		neighbours: []string{"slack.com.evil.com", "files.slack.com.evil.com", "evilslack.com"}},
	// https://developers.hubspot.com/docs/api/usage-details
	{typ: "hubspot", base: "https://api.hubapi.com", neighbours: []string{"hubapi.com.evil.com"}},
	// https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
	{typ: "github", base: "https://api.github.com", sibling: "https://uploads.github.com/repos/o/r/releases/1/assets?name=a.zip",
		neighbours: []string{"github.com.evil.com", "evilgithub.com", "gist.github.com"}},
	// https://developers.notion.com/reference/intro and https://developers.notion.com/reference/request-limits
	{typ: "notion", base: "https://api.notion.com/v1"},
	// https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/
	// https://developer.atlassian.com/cloud/oauth/getting-started/making-calls-to-api/ (cloud id)
	{typ: "jira", fields: map[string]string{"cloud_id": "1324a887-45db-1bf4-1e99-ef0ff456d421"},
		base:       "https://api.atlassian.com/ex/jira/1324a887-45db-1bf4-1e99-ef0ff456d421/rest/api/3",
		neighbours: []string{"acme.atlassian.net", "atlassian.com.evil.com"}},
	// https://developer.atlassian.com/cloud/confluence/oauth-2-authorization-code-grants-3lo-for-apps/
	// Paragon's paths start with /wiki: https://docs-prod.useparagon.com/resources/integrations/confluence
	{typ: "confluence", fields: map[string]string{"cloud_id": "1324a887-45db-1bf4-1e99-ef0ff456d421"},
		base: "https://api.atlassian.com/ex/confluence/1324a887-45db-1bf4-1e99-ef0ff456d421"},
	// https://learn.microsoft.com/en-us/graph/api/resources/mail-api-overview and https://learn.microsoft.com/graph/throttling
	{typ: "outlook", base: "https://graph.microsoft.com/v1.0", sibling: "https://graph.microsoft.com/beta/me/messages",
		neighbours: []string{"graph.microsoft.com.evil.com", "evilmicrosoft.com", "acme.sharepoint.com"}},
	// https://learn.microsoft.com/en-us/graph/api/resources/teams-api-overview
	// Paragon: https://docs.useparagon.com/resources/integrations/microsoft-teams
	{typ: "microsoftTeams", base: "https://graph.microsoft.com/v1.0"},
	// https://learn.microsoft.com/en-us/graph/api/resources/sharepoint
	// Paragon: https://docs.useparagon.com/resources/integrations/sharepoint
	{typ: "sharepoint", base: "https://graph.microsoft.com/v1.0"},
	// https://learn.microsoft.com/en-us/graph/api/resources/onedrive
	{typ: "onedrive", base: "https://graph.microsoft.com/v1.0"},
	// https://shopify.dev/docs/api/admin-rest and https://shopify.dev/docs/api/admin-rest/usage/rate-limits
	{typ: "shopify", fields: map[string]string{"shop": "acme"},
		base: "https://acme.myshopify.com/admin/api/2024-10", sibling: "https://other.myshopify.com/admin/api/2024-10/shop.json",
		neighbours: []string{"myshopify.com.evil.com", "evilmyshopify.com", "myshopify.com", "acme.shopify.com"},
		hostile:    map[string]string{"shop": "evil.com/"}},
	// https://developer.zendesk.com/api-reference/introduction/rate-limits
	{typ: "zendesk", fields: map[string]string{"subdomain": "acme"},
		base: "https://acme.zendesk.com/api/v2", sibling: "https://acme.zendesk.com/api/v2/tickets.json",
		neighbours: []string{"zendesk.com.evil.com", "evilzendesk.com"},
		hostile:    map[string]string{"subdomain": "evil.com/"}},
	// https://docs.stripe.com/api/authentication and https://docs.stripe.com/rate-limits
	{typ: "stripe", base: "https://api.stripe.com", sibling: "https://files.stripe.com/v1/files",
		neighbours: []string{"stripe.com.evil.com", "evilstripe.com", "connect.stripe.com"}},
	// https://www.dropbox.com/developers/documentation/http/documentation
	{typ: "dropbox", base: "https://api.dropboxapi.com/2", sibling: "https://content.dropboxapi.com/2/files/download",
		neighbours: []string{"dropboxapi.com.evil.com", "evildropboxapi.com", "content.dropboxapi.com.evil.com"}},
	// https://developers.asana.com/docs/rate-limits
	{typ: "asana", base: "https://app.asana.com/api/1.0"},
	// https://linear.app/developers/graphql and https://linear.app/developers/rate-limiting
	{typ: "linear", base: "https://api.linear.app"},
	// https://developers.intercom.com/docs/references/rest-api/errors/rate-limiting
	{typ: "intercom", base: "https://api.intercom.io", sibling: "https://api.eu.intercom.io/contacts",
		neighbours: []string{"intercom.io.evil.com", "api.evil.intercom.io"}},
	// https://developer.intuit.com/app/developer/qbo/docs/learn/rest-api-features
	// https://developer.intuit.com/app/developer/qbo/docs/learn/limits-and-throttles
	{typ: "quickbooks", fields: map[string]string{"realm_id": "9130350000000000"},
		base: "https://quickbooks.api.intuit.com/v3/company/9130350000000000", sibling: "https://sandbox-quickbooks.api.intuit.com/v3/company/1/query",
		neighbours: []string{"intuit.com.evil.com", "evil-quickbooks.api.intuit.com"}},
	// https://developer.xero.com/documentation/guides/oauth2/auth-flow/ and https://developer.xero.com/faq/limits
	{typ: "xero", fields: map[string]string{"tenant_id": "t-1"}, base: "https://api.xero.com/api.xro/2.0", sibling: "https://api.xero.com/connections"},
	// https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting
	{typ: "pipedrive", fields: map[string]string{"api_domain": "https://acme.pipedrive.com"},
		base: "https://acme.pipedrive.com/api/v1", sibling: "https://api.pipedrive.com/v1/deals",
		neighbours: []string{"pipedrive.com.evil.com", "evilpipedrive.com"},
		hostile:    map[string]string{"api_domain": "https://acme.pipedrive.com.evil.com"}},
	// https://developers.zoom.us/docs/api/
	{typ: "zoom", base: "https://api.zoom.us/v2", neighbours: []string{"zoom.us.evil.com", "evilzoom.us"}},
	// https://airtable.com/developers/web/api/introduction
	{typ: "airtable", base: "https://api.airtable.com/v0"},
	// https://mailchimp.com/developer/marketing/guides/access-user-data-oauth-2/ (login.mailchimp.com is allowed:
	// the data-center lookup asks https://login.mailchimp.com/oauth2/metadata)
	{typ: "mailchimp", fields: map[string]string{"dc": "us6"},
		base: "https://us6.api.mailchimp.com/3.0", sibling: "https://us19.api.mailchimp.com/3.0/lists",
		neighbours: []string{"api.mailchimp.com.evil.com", "mailchimp.com", "evilapi.mailchimp.com", "us6.login.mailchimp.com"},
		hostile:    map[string]string{"dc": "evil.com/"}},
}

func TestCatalogCoversEveryEntry(t *testing.T) {
	var want []string
	for _, c := range catalogCases {
		want = append(want, c.typ)
	}
	slices.Sort(want)
	var got []string
	for _, e := range integrations.Catalog() {
		got = append(got, e.Type)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Catalog() types = %q\nwant (tested) %q", got, want)
	}
	if !slices.IsSorted(got) {
		t.Errorf("Catalog() is not sorted by Type: %q", got)
	}
}

func TestCatalogEntries(t *testing.T) {
	for _, c := range catalogCases {
		t.Run(c.typ, func(t *testing.T) {
			def, ok := integrations.CatalogEntry(c.typ)
			if !ok {
				t.Fatalf("CatalogEntry(%q) not found", c.typ)
			}
			if def.RateLimits == nil || !strings.HasPrefix(def.RateLimits.Docs, "https://") || def.RateLimits.Notes == "" {
				t.Errorf("rateLimits = %+v, want docs and notes", def.RateLimits)
			}
			if def.Name == "" || def.Name == def.Type {
				t.Errorf("name = %q, want a display name", def.Name)
			}
			// A project gives only its client credentials (nothing for an API key).
			cfg := integrations.Config{Type: c.typ}
			if def.Auth.Type == integrations.AuthOAuth2 {
				cfg.Auth = integrations.SchemeConfig{ClientID: "id", ClientSecret: "secret"}
				if def.Auth.AuthURL == "" || def.Auth.TokenURL == "" {
					t.Errorf("oauth2 entry without authUrl/tokenUrl: %+v", def.Auth)
				}
			}
			in, err := integrations.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if in.Key() != c.typ {
				t.Errorf("Key() = %q", in.Key())
			}
			got := in.Config()
			if got.Auth.ClientID != cfg.Auth.ClientID || got.Auth.TokenURL != def.Auth.TokenURL || got.BaseURL != def.BaseURL {
				t.Errorf("compiled config %+v lost the defaults or the credentials", got)
			}
			if (def.Auth.Type == integrations.AuthOAuth2) != (in.Grant() != nil) {
				t.Errorf("auth %s: grant %v", def.Auth.Type, in.Grant())
			}

			conn := &tokens.Connection{Integration: c.typ, Fields: c.fields,
				Credential: tokens.Credential{AccessToken: "at", APIKey: "sk", Username: "uk"}}
			base, err := in.BaseURL(conn)
			if err != nil {
				t.Fatalf("BaseURL: %v", err)
			}
			if base.String() != c.base {
				t.Errorf("BaseURL = %s, want %s", base, c.base)
			}
			// The credential and the default headers apply.
			h := http.Header{}
			if err := in.Apply(h, &url.URL{}, conn); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if len(h) == 0 {
				t.Errorf("Apply set no header")
			}

			ok200 := []string{c.base + "/x"}
			if c.sibling != "" {
				ok200 = append(ok200, c.sibling)
			}
			for _, ref := range ok200 {
				if _, err := hosts.Resolve(base, ref, in.Policy()); err != nil {
					t.Errorf("Resolve(%s) = %v, want allowed", ref, err)
				}
			}
			// Hostile: hosts that merely resemble the provider's.
			labels := strings.Split(base.Hostname(), ".")
			domain := strings.Join(labels[len(labels)-2:], ".")
			refused := append([]string{base.Hostname() + ".evil.com", "x" + domain, domain + ".evil.com"}, c.neighbours...)
			for _, host := range refused {
				ref := "https://" + host + "/x"
				if _, err := hosts.Resolve(base, ref, in.Policy()); !errors.Is(err, hosts.ErrHostNotAllowed) {
					t.Errorf("Resolve(%s) = %v, want ErrHostNotAllowed", ref, err)
				}
			}

			// Hostile: a connection field that moves the templated host away.
			if c.hostile != nil {
				fields := map[string]string{}
				for k, v := range c.fields {
					fields[k] = v
				}
				for k, v := range c.hostile {
					fields[k] = v
				}
				u, err := in.BaseURL(&tokens.Connection{Fields: fields})
				if !errors.Is(err, hosts.ErrHostNotAllowed) {
					t.Errorf("BaseURL with %v = %v, %v; want ErrHostNotAllowed", c.hostile, u, err)
				}
			}
		})
	}
}

// Every templated host is checked: a salesforce instance_url or a shop
// that leaves the provider's domain is refused before any request.
func TestCatalogTemplatedHostsRefuseElsewhere(t *testing.T) {
	cases := []struct {
		typ   string
		field string
		value string
	}{
		{"salesforce", "instance_url", "https://acme.salesforce.com.evil.com"},
		{"salesforce", "instance_url", "https://evil.com/acme.my.salesforce.com"},
		{"salesforce", "instance_url", "https://salesforce.com"},
		{"shopify", "shop", "acme.myshopify.com.evil.com/"},
		{"shopify", "shop", "evil.com/x"},
		{"zendesk", "subdomain", "evil.com/"},
		{"mailchimp", "dc", "us6.api.mailchimp.com.evil.com/"},
		{"pipedrive", "api_domain", "https://evil.com"},
	}
	for _, c := range cases {
		in, err := integrations.New(integrations.Config{Type: c.typ})
		if err != nil {
			t.Fatal(err)
		}
		u, err := in.BaseURL(&tokens.Connection{Fields: map[string]string{c.field: c.value}})
		if !errors.Is(err, hosts.ErrHostNotAllowed) {
			t.Errorf("%s %s=%q: BaseURL = %v, %v; want ErrHostNotAllowed", c.typ, c.field, c.value, u, err)
		}
	}
}

func TestCatalogOverrides(t *testing.T) {
	t.Run("auth merged field by field", func(t *testing.T) {
		in, err := integrations.New(integrations.Config{Type: "hubspot",
			Auth: integrations.SchemeConfig{ClientID: "id", ClientSecret: "s", Scopes: []string{"oauth", "tickets"}}})
		if err != nil {
			t.Fatal(err)
		}
		a := in.Config().Auth
		if a.Type != integrations.AuthOAuth2 || a.TokenURL != "https://api.hubapi.com/oauth/2026-03/token" || a.AuthStyle != "params" ||
			a.ClientID != "id" || !reflect.DeepEqual(a.Scopes, []string{"oauth", "tickets"}) {
			t.Errorf("auth = %+v", a)
		}
	})
	t.Run("user fields replace", func(t *testing.T) {
		in, err := integrations.New(integrations.Config{Type: "salesforce", Name: "SFDC",
			AllowedHosts: []string{"*.my.salesforce.com"},
			Auth:         integrations.SchemeConfig{TokenURL: "https://test.salesforce.com/services/oauth2/token"}})
		if err != nil {
			t.Fatal(err)
		}
		c := in.Config()
		if c.Name != "SFDC" || !reflect.DeepEqual(c.AllowedHosts, []string{"*.my.salesforce.com"}) ||
			c.Auth.TokenURL != "https://test.salesforce.com/services/oauth2/token" ||
			c.Auth.AuthURL != "https://login.salesforce.com/services/oauth2/authorize" {
			t.Errorf("config = %+v", c)
		}
		// The narrower allowlist now refuses the force.com host.
		base, _ := in.BaseURL(&tokens.Connection{Fields: map[string]string{"instance_url": "https://acme.my.salesforce.com"}})
		if _, err := hosts.Resolve(base, "https://acme.lightning.force.com/x", in.Policy()); !errors.Is(err, hosts.ErrHostNotAllowed) {
			t.Errorf("force.com after override: %v", err)
		}
	})
	t.Run("headers merge", func(t *testing.T) {
		in, err := integrations.New(integrations.Config{Type: "notion",
			Headers: map[string]string{"notion-version": "2025-09-03", "X-Team": "{team}"}})
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		conn := &tokens.Connection{Fields: map[string]string{"team": "a"}, Credential: tokens.Credential{AccessToken: "at"}}
		if err := in.Apply(h, &url.URL{}, conn); err != nil {
			t.Fatal(err)
		}
		if h.Get("Notion-Version") != "2025-09-03" || h.Get("X-Team") != "a" || len(h.Values("Notion-Version")) != 1 {
			t.Errorf("headers = %v", h)
		}
		// An empty value removes the catalog's header.
		in, err = integrations.New(integrations.Config{Type: "github", Headers: map[string]string{"X-GitHub-Api-Version": ""}})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := in.Config().Headers["X-GitHub-Api-Version"]; ok {
			t.Errorf("headers = %v, want X-GitHub-Api-Version removed", in.Config().Headers)
		}
	})
	t.Run("header credentials", func(t *testing.T) {
		in, err := integrations.New(integrations.Config{Type: "shopify"})
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		if err := in.Apply(h, &url.URL{}, &tokens.Connection{Fields: map[string]string{"shop": "acme"},
			Credential: tokens.Credential{AccessToken: "shpat"}}); err != nil {
			t.Fatal(err)
		}
		if h.Get("X-Shopify-Access-Token") != "shpat" || h.Get("Authorization") != "" {
			t.Errorf("headers = %v", h)
		}
	})
	t.Run("a base URL turns the catalog off", func(t *testing.T) {
		in, err := integrations.New(integrations.Config{Type: "slack", BaseURL: "https://slack.example.com/api"})
		if err != nil {
			t.Fatal(err)
		}
		if c := in.Config(); c.Auth.Type != integrations.AuthNone || c.AllowedHosts != nil || c.RateLimits != nil {
			t.Errorf("config = %+v, want no catalog defaults", c)
		}
	})
	t.Run("aliases and letter case keep the caller's type", func(t *testing.T) {
		for typ, want := range map[string]string{"msteams": "https://graph.microsoft.com/v1.0", "googleDrive": "https://www.googleapis.com/drive/v3", "qbo": "https://quickbooks.api.intuit.com/v3/company/{realm_id}"} {
			in, err := integrations.New(integrations.Config{Type: typ})
			if err != nil {
				t.Fatal(err)
			}
			if in.Key() != typ || in.Config().BaseURL != want {
				t.Errorf("%s: key %q base %q", typ, in.Key(), in.Config().BaseURL)
			}
		}
	})
	t.Run("unknown type still needs a base URL", func(t *testing.T) {
		if _, err := integrations.New(integrations.Config{Type: "nosuch"}); err == nil {
			t.Error("New(nosuch) succeeded")
		}
		if _, err := integrations.New(integrations.Config{Type: "custom", Slug: "slack"}); err == nil {
			t.Error("a custom integration took catalog defaults")
		}
	})
	t.Run("copies", func(t *testing.T) {
		c := integrations.Catalog()
		c[0].AllowedHosts = append(c[0].AllowedHosts, "evil.com")
		c[0].Headers = map[string]string{"X": "y"}
		c[0].RateLimits.Notes = "changed"
		e, _ := integrations.CatalogEntry(c[0].Type)
		if slices.Contains(e.AllowedHosts, "evil.com") || e.Headers["X"] != "" || e.RateLimits.Notes == "changed" {
			t.Errorf("the catalog changed through a copy: %+v", e)
		}
		in, err := integrations.New(integrations.Config{Type: "notion"})
		if err != nil {
			t.Fatal(err)
		}
		in.Config().Headers["Notion-Version"] = "x"
		if e, _ := integrations.CatalogEntry("notion"); e.Headers["Notion-Version"] != "2022-06-28" {
			t.Errorf("the catalog changed through an integration: %v", e.Headers)
		}
	})
}
