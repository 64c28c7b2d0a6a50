package echoadapter

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/onbehalf/onbehalf/middleware"
)

// Mount serves h for every method on every path below g's prefix. h sees
// the path with the prefix removed, still percent-encoded as sent.
func Mount(g *echo.Group, h http.Handler) {
	g.Any("/*", Handler(h))
}

// Handler adapts h to an Echo route that ends in a "/*" wildcard, such as
// e.Any("/api/integrations/*", echoadapter.Handler(h)): the part of the path
// before the wildcard is removed before h runs. On other routes the path is
// passed unchanged. The response goes straight to the client: Handler
// returns nil, and Echo's error handler never writes over it.
func Handler(h http.Handler) echo.HandlerFunc {
	return func(c *echo.Context) error {
		r := c.Request()
		if route := c.Path(); strings.HasSuffix(route, "/*") {
			segments := strings.Count(strings.TrimSuffix(route, "/*"), "/")
			r = middleware.StripPathSegments(r, segments)
		}
		h.ServeHTTP(c.Response(), r)
		return nil
	}
}
