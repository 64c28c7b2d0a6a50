// Package connect creates connections: OAuth 2.0 authorization code with PKCE
// (S256), API-key and password entry, disconnect with revocation, and the
// Connect Portal page where a user does all of it in the browser.
//
// It is mounted as middleware.Config.Connect, sharing the registry and the
// store with the proxy:
//
//	reg, _ := integrations.NewStaticRegistry(map[string][]integrations.Config{"acme-prod": integrations})
//	auth, _ := middleware.NewAuth(middleware.AuthConfig{Projects: projects})
//	ch, err := connect.New(connect.Config{
//		Registry: reg, Store: store, Auth: auth,
//		PublicURL:  "https://app.example.com/api/integrations",
//		ReturnURLs: map[string][]string{"acme-prod": {"https://app.example.com/settings/"}},
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	h, err := middleware.New(middleware.Config{Projects: projects, Registry: reg, Store: store, Connect: ch})
//
// Routes, under /projects/{projectID}/sdk/:
//
//	POST   connect/{integration}/start        user token; {"returnUrl"} → {"url": provider authorization URL}
//	GET    connect/callback?code&state        from the provider; 303 to the return URL with onbehalf_status
//	POST   connect/{integration}/credentials  user token; {"apiKey"} or {"username","password"} → 201
//	DELETE connect/{integration}              user token; revokes (RFC 7009) when configured, deletes → 204
//	GET    connect/methods                    user token; how each integration connects
//	GET    portal                             the Connect Portal page (token in #token=... or by postMessage)
//
// The redirect URI to register with each provider is
// {PublicURL}/projects/{projectID}/sdk/connect/callback (Handler.RedirectURI).
package connect
