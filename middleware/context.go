package middleware

import (
	"context"
	"net/url"
	"time"

	"github.com/onbehalf/onbehalf/tokens"
)

// Each stage stores what it learned in the request context under an
// unexported key and exposes it through a typed accessor. Later stages read;
// none reaches back.

type ctxKey int

const (
	routeKey ctxKey = iota
	principalKey
	integrationKey
	connectionKey
	targetKey
)

// RouteKind tells which route of the wire contract matched.
type RouteKind int

const (
	// RouteProxy is a proxy call: /projects/{p}/sdk/proxy/{integration}/{apiPath...}.
	RouteProxy RouteKind = iota + 1
	// RouteMe is GET /projects/{p}/sdk/me.
	RouteMe
	// RouteIntegrations is GET /projects/{p}/sdk/integrations.
	RouteIntegrations
	// RouteConnect is /projects/{p}/sdk/connect/... and /projects/{p}/sdk/portal,
	// served by Config.Connect.
	RouteConnect
)

// Route is what the router parsed from the path, before anything was checked.
type Route struct {
	Kind    RouteKind
	Project string
	// Integration is the integration reference from the path: a type name
	// ("salesforce"), "custom.<slug>", or empty when CustomID is set.
	Integration string
	// CustomID is the id from /custom/{id}/ routes.
	CustomID string
	// APIPath is the rest of the path after the integration, still
	// percent-encoded as the client sent it: a relative API path or a
	// fully-qualified URL (possibly in its cleaned "https:/host" form).
	APIPath string
}

// WithRoute returns a context carrying rt.
func WithRoute(ctx context.Context, rt Route) context.Context {
	return context.WithValue(ctx, routeKey, rt)
}

// RouteFromContext returns the route stored by the router.
func RouteFromContext(ctx context.Context) (Route, bool) {
	rt, ok := ctx.Value(routeKey).(Route)
	return rt, ok
}

// Principal is the verified caller: the user token's subject in a project.
type Principal struct {
	Project   string
	User      string    // the token's sub
	ExpiresAt time.Time // the token's exp
	// Permissions is the permissions claim as given, nil when absent.
	Permissions any
}

// WithPrincipal returns a context carrying p. The Auth stage calls it; tests
// and custom auth stages may too.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// PrincipalFromContext returns the principal stored by the Auth stage.
func PrincipalFromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey).(Principal)
	return p, ok
}

// WithIntegration returns a context carrying in.
func WithIntegration(ctx context.Context, in *Integration) context.Context {
	return context.WithValue(ctx, integrationKey, in)
}

// IntegrationFromContext returns the integration stored by the Resolver stage.
func IntegrationFromContext(ctx context.Context) (*Integration, bool) {
	in, ok := ctx.Value(integrationKey).(*Integration)
	return in, ok && in != nil
}

// WithConnection returns a context carrying c.
func WithConnection(ctx context.Context, c *tokens.Connection) context.Context {
	return context.WithValue(ctx, connectionKey, c)
}

// ConnectionFromContext returns the connection stored by the Injector stage.
// Its credential is ready to apply. Callers must not modify it.
func ConnectionFromContext(ctx context.Context) (*tokens.Connection, bool) {
	c, ok := ctx.Value(connectionKey).(*tokens.Connection)
	return c, ok && c != nil
}

// WithTarget returns a context carrying u.
func WithTarget(ctx context.Context, u *url.URL) context.Context {
	return context.WithValue(ctx, targetKey, u)
}

// TargetFromContext returns the checked target URL stored by the Guard stage.
// Callers must not modify it.
func TargetFromContext(ctx context.Context) (*url.URL, bool) {
	u, ok := ctx.Value(targetKey).(*url.URL)
	return u, ok && u != nil
}
