package middleware

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware/upstream"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// Each stage stores what it learned in the request's state and exposes it
// through a typed accessor. Later stages read; none reaches back. The state is
// one value per request (created by the Handler, or by the first With* call
// when a stage is used alone), so a stage adds what it learned without copying
// the request. The state is itself the context that carries it: it wraps the
// request's context and answers the state key, one allocation in all.

type stateKey struct{}

// reqState is what the stages learned about one request. It is a
// context.Context: the one it was made from, plus Value(stateKey{}) = itself.
type reqState struct {
	context.Context

	route        Route
	hasRoute     bool
	principal    Principal
	hasPrincipal bool
	start        time.Time // for the Observer

	// up holds the integration, connection and target the stages found, and
	// what the upstream chain records (timing, retries): the Forwarder
	// reads and writes it through the upstream.StateKey key.
	up upstream.State
	// mode is the response mode, written by response.SetMode through the
	// response.ModeSlot key.
	mode response.Mode
}

// Value answers the state key with the state, and any other key from the
// context the state wraps.
func (s *reqState) Value(key any) any {
	switch key.(type) {
	case stateKey:
		return s
	case response.ModeSlot:
		return &s.mode
	case upstream.StateKey:
		return &s.up
	}
	return s.Context.Value(key)
}

func stateFrom(ctx context.Context) *reqState {
	s, _ := ctx.Value(stateKey{}).(*reqState)
	return s
}

// ensureState returns ctx's state, adding a new one when there is none.
func ensureState(ctx context.Context) (context.Context, *reqState) {
	if s := stateFrom(ctx); s != nil {
		return ctx, s
	}
	s := &reqState{Context: ctx}
	return s, s
}

// withContext is r.WithContext, without the copy when ctx is r's own.
func withContext(r *http.Request, ctx context.Context) *http.Request {
	if ctx == r.Context() {
		return r
	}
	return r.WithContext(ctx)
}

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

// String names the route kind for logs and metrics.
func (k RouteKind) String() string {
	switch k {
	case RouteProxy:
		return "proxy"
	case RouteMe:
		return "me"
	case RouteIntegrations:
		return "integrations"
	case RouteConnect:
		return "connect"
	}
	return "unknown"
}

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

// The With* functions store a fact in the request's state: they return ctx
// itself when it already carries one (the state of that request is then
// updated in place), or a new context carrying a new state.

// WithRoute returns a context carrying rt.
func WithRoute(ctx context.Context, rt Route) context.Context {
	ctx, s := ensureState(ctx)
	s.route, s.hasRoute = rt, true
	return ctx
}

// RouteFromContext returns the route stored by the router.
func RouteFromContext(ctx context.Context) (Route, bool) {
	if s := stateFrom(ctx); s != nil && s.hasRoute {
		return s.route, true
	}
	return Route{}, false
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
	ctx, s := ensureState(ctx)
	s.principal, s.hasPrincipal = p, true
	return ctx
}

// PrincipalFromContext returns the principal stored by the Auth stage.
func PrincipalFromContext(ctx context.Context) (Principal, bool) {
	if s := stateFrom(ctx); s != nil && s.hasPrincipal {
		return s.principal, true
	}
	return Principal{}, false
}

// WithIntegration returns a context carrying in.
func WithIntegration(ctx context.Context, in *integrations.Integration) context.Context {
	ctx, s := ensureState(ctx)
	s.up.Integration = in
	return ctx
}

// IntegrationFromContext returns the integration stored by the Resolver stage.
func IntegrationFromContext(ctx context.Context) (*integrations.Integration, bool) {
	if s := stateFrom(ctx); s != nil && s.up.Integration != nil {
		return s.up.Integration, true
	}
	return nil, false
}

// WithConnection returns a context carrying c.
func WithConnection(ctx context.Context, c *tokens.Connection) context.Context {
	ctx, s := ensureState(ctx)
	s.up.Connection = c
	return ctx
}

// ConnectionFromContext returns the connection stored by the Injector stage.
// Its credential is ready to apply. Callers must not modify it.
func ConnectionFromContext(ctx context.Context) (*tokens.Connection, bool) {
	if s := stateFrom(ctx); s != nil && s.up.Connection != nil {
		return s.up.Connection, true
	}
	return nil, false
}

// WithTarget returns a context carrying u.
func WithTarget(ctx context.Context, u *url.URL) context.Context {
	ctx, s := ensureState(ctx)
	s.up.Target = u
	return ctx
}

// TargetFromContext returns the checked target URL stored by the Guard stage.
// Callers must not modify it.
func TargetFromContext(ctx context.Context) (*url.URL, bool) {
	if s := stateFrom(ctx); s != nil && s.up.Target != nil {
		return s.up.Target, true
	}
	return nil, false
}
