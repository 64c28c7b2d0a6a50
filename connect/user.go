package connect

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
)

// Verifier verifies a user token for a project and returns the user it
// names. Errors are *response.Error values (401 or 403 with a stable code)
// or wrap them; they never contain the token. *middleware.Auth implements it.
// It must be safe for concurrent use.
type Verifier interface {
	VerifyUser(ctx context.Context, project, token string) (user string, err error)
}

// principal verifies the request's user token for the route's project and
// returns its user.
func (h *Handler) principal(r *http.Request, rt route) (string, error) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", response.New(http.StatusUnauthorized, response.CodeTokenMissing, "Missing user token: send Authorization: Bearer <token>.")
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "bearer") || tok == "" || strings.ContainsAny(tok, " ,") {
		return "", response.New(http.StatusUnauthorized, response.CodeTokenMissing, "Missing user token: send Authorization: Bearer <token>.")
	}
	return h.auth.VerifyUser(r.Context(), rt.project, tok)
}

// integration looks the route's integration up by name, then by custom id.
// userIntegration verifies the user token and finds the route's integration:
// the common start of every authenticated connect route.
func (h *Handler) userIntegration(r *http.Request, rt route) (string, *integrations.Integration, error) {
	user, err := h.principal(r, rt)
	if err != nil {
		return "", nil, err
	}
	in, err := h.integration(r.Context(), rt.project, rt.integration)
	return user, in, err
}

func (h *Handler) integration(ctx context.Context, project, ref string) (*integrations.Integration, error) {
	in, err := h.reg.Lookup(ctx, project, integrations.Ref{Name: ref})
	if errors.Is(err, integrations.ErrNotFound) && !strings.Contains(ref, ".") {
		in, err = h.reg.Lookup(ctx, project, integrations.Ref{CustomID: ref})
	}
	if errors.Is(err, integrations.ErrNotFound) {
		return nil, response.Wrap(err, http.StatusNotFound, response.CodeIntegrationNotFound, "Unknown integration.")
	}
	return in, err
}
