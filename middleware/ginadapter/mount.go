package ginadapter

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/onbehalf/onbehalf/middleware"
)

// Mount serves h for every method of RouterGroup.Any on every path below
// g's prefix. h sees the path with the prefix removed, still
// percent-encoded as sent.
func Mount(g *gin.RouterGroup, h http.Handler) {
	g.Any("/*path", Handler(h))
}

// Handler adapts h to a Gin route that ends in a catch-all ("/*name"), such
// as r.Any("/api/integrations/*path", ginadapter.Handler(h)): the part of the
// path before the catch-all is removed before h runs. On other routes the
// path is passed unchanged. h writes the response; the chain is aborted
// afterwards so no later handler writes over it.
func Handler(h http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		route := c.FullPath()
		if i := strings.LastIndex(route, "/*"); i >= 0 {
			r = middleware.StripPathSegments(r, strings.Count(route[:i], "/"))
		}
		h.ServeHTTP(c.Writer, r)
		c.Abort()
	}
}
