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
//			Integrations: []middleware.IntegrationConfig{{
//				Type: "stripe", BaseURL: "https://api.stripe.com",
//				Auth: middleware.SchemeConfig{Type: middleware.AuthAPIKey, Prefix: "Bearer "},
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
//	router → Auth → Resolver → Injector → Guard → response.SetMode → Forwarder
//
// Each stage stores what it learned in the request context (RouteFromContext,
// PrincipalFromContext, IntegrationFromContext, ConnectionFromContext,
// TargetFromContext); later stages read it and none reaches back. Stages up to
// the Guard answer errors before anything is sent upstream; every error is
// written as the JSON body of package response with a stable code.
package middleware
