package middleware

import "net/http"

// Middleware is one stage of the chain. It is an alias, so values fit
// gorilla/mux's MiddlewareFunc, chi's Use and justinas/alice without
// conversion.
type Middleware = func(http.Handler) http.Handler

// Chain composes middlewares so that the first one runs first:
// Chain(a, b, c)(h) == a(b(c(h))).
func Chain(ms ...Middleware) Middleware {
	return func(h http.Handler) http.Handler {
		for i := len(ms) - 1; i >= 0; i-- {
			h = ms[i](h)
		}
		return h
	}
}
