// Package echoadapter mounts the onbehalf handler in an Echo (v5) application.
// (Echo v4 has advisories without a fix, GO-2026-6872 and GO-2026-6875, so the
// adapter targets v5, where they are fixed.)
//
//	h, err := middleware.New(cfg) // github.com/onbehalf/onbehalf/middleware
//	if err != nil { ... }
//	defer h.Close()
//	e := echo.New()
//	echoadapter.Mount(e.Group("/api/integrations"), h)
//
// The handler then answers /api/integrations/projects/{project}/sdk/...: Mount
// registers a catch-all route for every method Echo knows under the group
// and removes the group's prefix from the path, so the handler sees
// /projects/... (its Config.Prefix stays empty). Group prefixes with
// parameters ("/t/:tenant/integrations") work too.
//
// Fully-qualified URLs in the path (.../proxy/salesforce/https://host/x)
// need no setting: Echo routes on the raw path and neither cleans it nor
// redirects a "//", and the handler also accepts the cleaned "https:/host"
// form. Do not put path-rewriting Pre middleware in front of the group
// (middleware.RemoveTrailingSlash or AddTrailingSlash with a RedirectCode,
// Rewrite): a redirect turns a POST into a GET, and a rewrite changes the
// provider path. Group middleware (logging, request ids) is fine; the
// handler authenticates requests itself, so no auth middleware is needed.
//
// Give the handler a group of its own: any route registered below its
// prefix is shadowed by, or shadows, the catch-all.
package echoadapter
