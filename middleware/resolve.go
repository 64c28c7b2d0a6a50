package middleware

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
)

// Resolver is stage 2: it finds the integration the route names in the
// integrations.Registry and stores it in the request context. It also enforces
// the principal's proxy permission.
type Resolver struct {
	reg integrations.Registry
}

// NewResolver returns the stage over reg.
func NewResolver(reg integrations.Registry) (*Resolver, error) {
	if reg == nil {
		return nil, errors.New("middleware: resolver: nil registry")
	}
	return &Resolver{reg: reg}, nil
}

// Handler is the stage as a middleware. It needs a Route and a Principal in
// the context.
func (rs *Resolver) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok1 := RouteFromContext(r.Context())
		p, ok2 := PrincipalFromContext(r.Context())
		if !ok1 || !ok2 {
			fail(w, errors.New("middleware: resolver mounted without router and auth"))
			return
		}
		if !p.Allows(PermissionProxy) {
			fail(w, response.New(http.StatusForbidden, response.CodePermissionDenied, "This user token may not make proxy requests."))
			return
		}
		in, err := rs.reg.Lookup(r.Context(), p.Project, integrations.Ref{Name: rt.Integration, CustomID: rt.CustomID})
		if err != nil {
			if errors.Is(err, integrations.ErrNotFound) {
				err = response.Wrap(err, http.StatusNotFound, response.CodeIntegrationNotFound, rs.unknownMessage(r.Context(), p.Project, rt))
			}
			fail(w, err)
			return
		}
		next.ServeHTTP(w, withContext(r, WithIntegration(r.Context(), in)))
	})
}

// unknownMessage says what to try when a route names no integration: a
// custom integration is reached as custom.{slug}, so a bare name that is a
// custom slug gets that suggestion. Only configured names are quoted.
func (rs *Resolver) unknownMessage(ctx context.Context, project string, rt Route) string {
	const msg = "Unknown integration for this project."
	if rt.Integration == "" || strings.Contains(rt.Integration, ".") {
		return msg
	}
	want := "custom." + strings.ToLower(rt.Integration)
	if in, err := rs.reg.Lookup(ctx, project, integrations.Ref{Name: want}); err == nil {
		return msg + " Custom integrations are named custom.{slug}: did you mean " + in.Key() + "?"
	}
	return msg
}
