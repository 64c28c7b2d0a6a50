package echoadapter

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v5"
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
			r = stripSegments(r, segments)
		}
		h.ServeHTTP(c.Response(), r)
		return nil
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
