package middleware

import (
	"net/http"

	"github.com/onbehalf/onbehalf/middleware/upstream"
)

// fail writes err as the proxy's JSON error, through the one error mapper
// (upstream.Classify, then response.WriteError).
func fail(w http.ResponseWriter, err error) { upstream.Fail(w, err) }

// headerValue is h.Get(key) for a key already in canonical form, without
// canonicalizing it again on every request.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
