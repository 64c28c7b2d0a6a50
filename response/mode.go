package response

import (
	"context"
	"net/http"
	"strings"
)

// Mode says how an upstream answer is returned to the caller.
type Mode int

const (
	// ModeJSON, the default, returns a 2xx JSON answer as {"output": <json>},
	// text as {"output": "<text>"}, an empty body as empty, and a non-2xx answer
	// as the error body with meta.isIntegrationError set.
	ModeJSON Mode = iota
	// ModeRaw streams the upstream status, headers and body unchanged, minus
	// hop-by-hop headers and the headers that would act on the host app's own
	// origin (see RawDroppedHeaders).
	ModeRaw
)

// RawHeader is the request header that selects ModeRaw when its value is truthy.
const RawHeader = "X-Paragon-Use-Raw-Response"

// String returns "json" or "raw".
func (m Mode) String() string {
	if m == ModeRaw {
		return "raw"
	}
	return "json"
}

// ModeOf returns the mode a request asks for: ModeRaw when RawHeader is present
// with any value other than "", "0", "false", "no" or "off" (case-insensitive).
func ModeOf(h http.Header) Mode {
	v := strings.TrimSpace(h.Get(RawHeader))
	switch strings.ToLower(v) {
	case "", "0", "false", "no", "off":
		return ModeJSON
	}
	return ModeRaw
}

type modeKey struct{}

// WithMode returns a context that carries m.
func WithMode(ctx context.Context, m Mode) context.Context {
	return context.WithValue(ctx, modeKey{}, m)
}

// ModeFromContext returns the mode stored by WithMode.
func ModeFromContext(ctx context.Context) (Mode, bool) {
	m, ok := ctx.Value(modeKey{}).(Mode)
	return m, ok
}

// SetMode is the response-mode stage as a middleware: it reads RawHeader from
// the inbound request and stores the mode in the request context, where
// Responder.Modify finds it on the way back.
func SetMode(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ModeOf(r.Header) == ModeRaw {
			r = r.WithContext(WithMode(r.Context(), ModeRaw))
		}
		// JSON, the default, needs no context value: ModeFromContext's
		// absence means ModeJSON to Modify.
		next.ServeHTTP(w, r)
	})
}
