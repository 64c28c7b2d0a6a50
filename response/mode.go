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
	var v string
	if vs := h[RawHeader]; len(vs) > 0 { // RawHeader is canonical: h.Get without re-canonicalizing it
		v = strings.TrimSpace(vs[0])
	}
	switch strings.ToLower(v) {
	case "", "0", "false", "no", "off":
		return ModeJSON
	}
	return ModeRaw
}

type modeKey struct{}

// ModeSlot is a context key for a chain that already carries per-request
// state in its context: when ctx.Value(ModeSlot{}) is a *Mode, SetMode
// writes the mode there instead of adding a context layer (and copying the
// request), and ModeFromContext reads it. The slot starts as ModeJSON.
// middleware.Handler's request state answers this key.
type ModeSlot struct{}

// WithMode returns a context that carries m.
func WithMode(ctx context.Context, m Mode) context.Context {
	return context.WithValue(ctx, modeKey{}, m)
}

// ModeFromContext returns the mode stored by WithMode or, failing that, the
// one in the context's ModeSlot.
func ModeFromContext(ctx context.Context) (Mode, bool) {
	if m, ok := ctx.Value(modeKey{}).(Mode); ok {
		return m, true
	}
	if p, ok := ctx.Value(ModeSlot{}).(*Mode); ok && p != nil {
		return *p, true
	}
	return ModeJSON, false
}

// SetMode is the response-mode stage as a middleware: it reads RawHeader from
// the inbound request and stores the mode in the request context, where
// Responder.Modify finds it on the way back.
func SetMode(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ModeOf(r.Header) == ModeRaw {
			if p, ok := r.Context().Value(ModeSlot{}).(*Mode); ok && p != nil {
				*p = ModeRaw
			} else {
				r = r.WithContext(WithMode(r.Context(), ModeRaw))
			}
		}
		// JSON, the default, needs no context value: ModeFromContext's
		// absence means ModeJSON to Modify.
		next.ServeHTTP(w, r)
	})
}
