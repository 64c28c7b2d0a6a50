package ginadapter

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
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
			r = stripSegments(r, strings.Count(route[:i], "/"))
		}
		h.ServeHTTP(c.Writer, r)
		c.Abort()
	}
}

// stripSegments returns a shallow copy of r whose URL path lacks its first n
// segments, cut on the escaped path so that encoded bytes ("%2F", "%20")
// after them stay as sent. The inbound request is not modified.
func stripSegments(r *http.Request, n int) *http.Request {
	if n == 0 {
		return r
	}
	rest := r.URL.EscapedPath()
	for range n {
		i := strings.IndexByte(rest[min(1, len(rest)):], '/')
		if i < 0 {
			rest = ""
			break
		}
		rest = rest[1+i:]
	}
	if rest == "" {
		rest = "/"
	}
	path, err := url.PathUnescape(rest)
	if err != nil {
		path = rest // the handler refuses the malformed escape itself
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = new(url.URL)
	*r2.URL = *r.URL
	r2.URL.Path = path
	r2.URL.RawPath = rest
	return r2
}
