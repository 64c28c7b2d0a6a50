// Package ginadapter mounts the onbehalf handler in a Gin application.
//
//	h, err := middleware.New(cfg) // github.com/onbehalf/onbehalf/middleware
//	if err != nil { ... }
//	defer h.Close()
//	r := gin.New()
//	ginadapter.Mount(r.Group("/api/integrations"), h)
//
// The handler then answers /api/integrations/projects/{project}/sdk/...: Mount
// registers a catch-all route (/*path) for every method of RouterGroup.Any
// and removes the group's prefix from the path, so the handler sees
// /projects/... (its Config.Prefix stays empty). Group prefixes with
// parameters ("/t/:tenant/integrations") work too.
//
// Fully-qualified URLs in the path (.../proxy/salesforce/https://host/x)
// work with Gin's defaults and with every path setting: the catch-all always
// matches, so RedirectTrailingSlash and RedirectFixedPath (which act only
// when no route matches) never redirect, and RemoveExtraSlash, UseRawPath
// and UseEscapedPath change only the path Gin routes on, not the URL the
// handler reads. The handler also accepts the cleaned "https:/host" form.
// Do not rewrite c.Request.URL in middleware ahead of the group.
//
// Give the handler a group of its own: Gin refuses (panics on) routes that
// conflict with a catch-all, so register nothing else below its prefix.
package ginadapter
