package connect

import (
	"net/http"
	"net/url"
	"strings"
)

// route is a request's place among the handler's routes.
type route struct {
	project     string
	rest        []string // path segments after /projects/{p}/sdk/
	integration string   // decoded {integration} where the route has one
}

// parseRoute finds the first /projects/{p}/sdk/ in the escaped path
// (middleware.Handler hands the handler its requests with its own prefix
// stripped, so that is the route's project).
func parseRoute(r *http.Request) (route, bool) {
	segs := strings.Split(r.URL.EscapedPath(), "/")
	for i := 2; i < len(segs); i++ {
		if segs[i] != "sdk" || segs[i-2] != "projects" {
			continue
		}
		p, err := url.PathUnescape(segs[i-1])
		if err != nil || p == "" {
			continue
		}
		rt := route{project: p, rest: segs[i+1:]}
		if len(rt.rest) >= 2 && rt.rest[0] == "connect" {
			in, err := url.PathUnescape(rt.rest[1])
			if err != nil || in == "" || strings.ContainsAny(in, "/\\\x00") {
				return route{}, false
			}
			rt.integration = in
		}
		return rt, true
	}
	return route{}, false
}
