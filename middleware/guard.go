package middleware

import (
	"errors"
	"net/http"
	"strings"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/response"
)

// ProxyURLHeader gives the target in a header instead of the path.
const ProxyURLHeader = "X-Paragon-Proxy-Url"

// Guard is stage 4: it resolves and checks the target URL (relative API path
// under the integration's base URL, a fully-qualified URL in the path, or the
// X-Paragon-Proxy-Url header) and stores it in the request context. Nothing
// reaches the network here: names are checked as names; the dial-time guard
// in the transport checks the addresses they resolve to.
type Guard struct{}

// NewGuard returns the stage.
func NewGuard() *Guard { return &Guard{} }

// Handler is the stage as a middleware. It needs a Route, an Integration and a
// Connection in the context.
func (g *Guard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		rt, ok1 := RouteFromContext(ctx)
		in, ok2 := IntegrationFromContext(ctx)
		c, ok3 := ConnectionFromContext(ctx)
		if !ok1 || !ok2 || !ok3 {
			fail(w, errors.New("middleware: guard mounted without router, resolver and injector"))
			return
		}
		base, err := in.Base(c)
		if err != nil {
			fail(w, err)
			return
		}
		ref := rt.APIPath
		if h := strings.TrimSpace(headerValue(r.Header, ProxyURLHeader)); h != "" {
			if strings.Trim(ref, "/") != "" {
				fail(w, response.New(http.StatusBadRequest, response.CodeTargetInvalid, "Invalid target URL: give it in the path or in "+ProxyURLHeader+", not both."))
				return
			}
			ref = h
		}
		target, err := hosts.Resolve(base, ref, in.Policy())
		if err != nil {
			fail(w, err)
			return
		}
		if q := r.URL.RawQuery; q != "" {
			// The query reaches the provider as sent: the user's own token
			// must not be in it (a client that also puts it in
			// ?access_token= would hand it to the provider).
			if tok, err := bearer(r.Header); err == nil && strings.Contains(q, tok) {
				fail(w, response.New(http.StatusBadRequest, response.CodeBadRequest,
					"The user token must not be sent in the query string: the query is forwarded to the integration. Send it in Authorization only."))
				return
			}
			if target.RawQuery != "" {
				target.RawQuery += "&" + q
			} else {
				target.RawQuery = q
			}
		}
		next.ServeHTTP(w, withContext(r, WithTarget(ctx, target)))
	})
}
