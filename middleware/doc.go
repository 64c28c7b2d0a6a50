// Package middleware is the onbehalf proxy: a chain of net/http stages that
// forwards a user's request to a third-party API with that user's stored
// credentials.
//
// The smallest wiring, with one project, one integration and an in-memory
// store:
//
//	h, err := middleware.New(middleware.Config{
//		Projects: []middleware.ProjectConfig{{
//			ID:   "acme-prod",
//			Keys: []middleware.KeyConfig{{PEM: userTokenPublicKeyPEM}},
//			Integrations: []integrations.Config{{
//				Type: "stripe", BaseURL: "https://api.stripe.com",
//				Auth: integrations.SchemeConfig{Type: integrations.AuthAPIKey, Prefix: "Bearer "},
//			}},
//		}},
//		Store: tokens.NewMemoryStore(),
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer h.Close()
//	mux.Handle("/api/integrations/", http.StripPrefix("/api/integrations", h))
//
// New assembles the stages; each is also usable alone, as a Middleware built
// once by its constructor and mounted through its Handler method:
//
//	router → Auth → Resolver → Injector → Guard → response.SetMode → upstream.Forwarder
//
// The integration definitions (config, credential schemes, the built-in
// catalog, the Registry) live in package integrations; the upstream round
// trip (the Forwarder and its RoundTripper chain: credential, retry,
// throttle, guarded transport) in package middleware/upstream. This package
// keeps the assembly (Config, New, the routes, the request state), the thin
// stages, the SDK bootstrap routes and the Observer hook.
//
// Each stage stores what it learned in the request context (RouteFromContext,
// PrincipalFromContext, IntegrationFromContext, ConnectionFromContext,
// TargetFromContext); later stages read it and none reaches back. Stages up to
// the Guard answer errors before anything is sent upstream; every error is
// written as the JSON body of package response with a stable code.
package middleware
