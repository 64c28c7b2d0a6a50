package middleware

import (
	"net/http"
	"net/url"
	"strings"
)

// StripPathSegments returns a shallow copy of r whose URL path lacks its
// first n segments ("/api/integrations/projects/p/..." with n = 2 becomes
// "/projects/p/..."), cut on the escaped path so that encoded bytes ("%2F",
// "%20") after them stay as sent. r itself is not modified. It is what the
// framework adapters use to mount the handler under a route group; with
// net/http, http.StripPrefix does the same.
func StripPathSegments(r *http.Request, n int) *http.Request {
	if n <= 0 {
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
