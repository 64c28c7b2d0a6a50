package integrations_test

import (
	"context"
	"fmt"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// An integration whose base URL comes from the connection, as Salesforce's
// instance_url does; the expanded host must match the allowed hosts.
func ExampleIntegration_BaseURL() {
	in, err := integrations.New(integrations.Config{
		Type:         "salesforce",
		BaseURL:      "{instance_url}/services/data/v60.0",
		AllowedHosts: []string{"*.my.salesforce.com"},
		Auth:         integrations.SchemeConfig{Type: integrations.AuthOAuth2, TokenURL: "https://login.salesforce.com/services/oauth2/token"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, instance := range []string{"https://acme.my.salesforce.com", "https://evil.example.com"} {
		u, err := in.BaseURL(&tokens.Connection{Fields: map[string]string{"instance_url": instance}})
		fmt.Println(u, err)
	}
	// Output:
	// https://acme.my.salesforce.com/services/data/v60.0 <nil>
	// <nil> integrations: base URL host "evil.example.com": hosts: host not allowed
}

// A built-in provider from the catalog: give the type and your OAuth client;
// the entry supplies the endpoints, base URL and allowed hosts.
func ExampleCatalogEntry() {
	e, ok := integrations.CatalogEntry("googleCalendar")
	fmt.Println(ok, e.BaseURL)
	in, err := integrations.New(integrations.Config{Type: "googleCalendar",
		Auth: integrations.SchemeConfig{ClientID: "id", ClientSecret: "secret"}})
	fmt.Println(err, in.Key(), in.AuthType())
	// Output:
	// true https://www.googleapis.com/calendar/v3
	// <nil> googleCalendar oauth2
}

// A registry of two projects' integrations, looked up as the proxy route
// names them.
func ExampleNewStaticRegistry() {
	reg, err := integrations.NewStaticRegistry(map[string][]integrations.Config{
		"acme": {
			{Type: "custom", Slug: "TaskLab", ID: "0d5c", BaseURL: "https://api.tasklab.example"},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ref := range []integrations.Ref{{Name: "custom.tasklab"}, {CustomID: "0d5c"}, {Name: "slack"}} {
		in, err := reg.Lookup(context.Background(), "acme", ref)
		if err != nil {
			fmt.Println(ref, err)
			continue
		}
		fmt.Println(ref, in.Key())
	}
	// Output:
	// {custom.tasklab } custom.tasklab
	// { 0d5c} custom.tasklab
	// {slack } integrations: integration not found
}

// An integration whose OAuth endpoints live on the tenant's own host: the
// input "shop" feeds the authorization URL, whose host is checked against
// allowedHosts, and Google-style authorization parameters ask for offline
// access (and consent again on a reconnect).
func ExampleIntegration_AuthCodeURL() {
	in, err := integrations.New(integrations.Config{Type: "custom", Slug: "shop",
		BaseURL: "https://{shop}.shops.example/admin", AllowedHosts: []string{"*.shops.example"},
		Inputs: []integrations.Input{{Name: "shop", Pattern: "[a-z0-9-]{1,40}", Example: "acme"}},
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2, ClientID: "client-1",
			AuthURL:  "https://{shop}.shops.example/oauth/authorize",
			TokenURL: "https://{shop}.shops.example/oauth/token",
			Scopes:   []string{"read_orders", "write_orders"}, ScopeSeparator: ",", PKCE: integrations.PKCEOff,
			AuthParams: map[string]string{"access_type": "offline"}, ReauthParams: map[string]string{"prompt": "consent"}}})
	if err != nil {
		panic(err)
	}
	fields, _, err := in.CheckInputs(map[string]string{"shop": "acme"})
	if err != nil {
		panic(err)
	}
	u, err := in.AuthCodeURL(&tokens.Connection{Fields: fields}, integrations.AuthCodeRequest{
		RedirectURI: "https://app.example.com/cb", State: "xyz", Reauth: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(u)
	_, _, err = in.CheckInputs(map[string]string{"shop": "evil.example/"})
	fmt.Println(err)
	// Output:
	// https://acme.shops.example/oauth/authorize?access_type=offline&client_id=client-1&prompt=consent&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&response_type=code&scope=read_orders%2Cwrite_orders&state=xyz
	// input "shop" does not have the expected form
}
