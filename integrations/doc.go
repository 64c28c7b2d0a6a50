// Package integrations holds the definitions of the third-party APIs the
// proxy calls: each integration's configuration (Config) and its compiled,
// immutable form (Integration), the credential schemes and how they are
// applied to an outbound request, the {field} templates of base URLs and
// headers, the retry and throttle policies, the built-in provider catalog
// (Catalog, CatalogEntry), and the Registry that finds a project's
// integrations (StaticRegistry).
//
// It is shared by the proxy (package middleware), the connect flow (package
// connect) and anything else that needs integration definitions without the
// proxy stages; it imports only tokens and hosts.
//
// The smallest use: compile one integration and find where a connection's
// requests go.
//
//	in, err := integrations.New(integrations.Config{
//		Type:         "salesforce",
//		BaseURL:      "{instance_url}/services/data/v60.0",
//		AllowedHosts: []string{"*.my.salesforce.com"},
//		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2,
//			TokenURL: "https://login.salesforce.com/services/oauth2/token"},
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	base, err := in.BaseURL(conn) // https://acme.my.salesforce.com/services/data/v60.0
//
// A Config whose BaseURL is empty and whose Type names a catalog entry takes
// the entry's definition; fields the Config sets override it (see
// CatalogEntry).
//
// A Config also describes its connection's life as data (flow.go): inputs
// (CheckInputs), the OAuth dialect (AuthCodeURL, Exchange, and the Grant
// the Refresher uses), captures (CallbackCaptures, TokenCaptures), lookups
// (RunLookup, NewClient for a guarded client), verification (Verify) and
// revocation (RevokeURL). Every templated endpoint's expanded host is
// checked at use. New rejects a bad config with a *ConfigError naming the
// JSON path of the problem ("lookups[0].fields: required").
package integrations
