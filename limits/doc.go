// Package limits holds the Limiter the upstream chain's limits stage asks
// before it sends a request, and its in-process implementation. A Limiter
// shared across replicas (Redis) lives in the nested module
// limits/redislimiter.
//
// The smallest wiring: nothing. upstream.Config's zero value uses NewLocal
// driven by the catalog's limits. To share the limits across replicas:
//
//	lim, _ := redislimiter.New(redislimiter.Config{Client: rdb})
//	h, _ := middleware.New(middleware.Config{ /* ... */
//		Forwarder: upstream.Config{Limits: upstream.LimitsConfig{Limiter: lim}}})
package limits
