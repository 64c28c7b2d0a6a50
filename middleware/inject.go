package middleware

import (
	"errors"
	"net/http"
	"strings"

	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// CredentialHeader chooses one of several connections of the same integration.
const CredentialHeader = "X-Paragon-Credential"

// InjectorConfig configures the Injector stage.
type InjectorConfig struct {
	// Store holds the connections. Required.
	Store tokens.Store
	// Refresher refreshes OAuth2 credentials that are due. Nil means a
	// refresher over Store with default settings.
	Refresher *tokens.Refresher
}

// Injector is stage 3: it loads the user's connection for the integration
// (the one X-Paragon-Credential names, else the default), refreshes its
// OAuth2 credential when due, and stores it in the request context. The
// credential is applied later, on the outbound request only.
type Injector struct {
	store     tokens.Store
	refresher *tokens.Refresher
}

// NewInjector validates cfg.
func NewInjector(cfg InjectorConfig) (*Injector, error) {
	if cfg.Store == nil {
		return nil, errors.New("middleware: injector: nil store")
	}
	if cfg.Refresher == nil {
		rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: cfg.Store})
		if err != nil {
			return nil, err
		}
		cfg.Refresher = rf
	}
	return &Injector{store: cfg.Store, refresher: cfg.Refresher}, nil
}

// Refresher returns the refresher the stage uses (the forwarder shares it for
// refresh-on-401).
func (inj *Injector) Refresher() *tokens.Refresher { return inj.refresher }

// Handler is the stage as a middleware. It needs a Principal and an
// Integration in the context.
func (inj *Injector) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p, ok1 := PrincipalFromContext(ctx)
		in, ok2 := IntegrationFromContext(ctx)
		if !ok1 || !ok2 {
			fail(w, errors.New("middleware: injector mounted without auth and resolver"))
			return
		}
		credID := strings.TrimSpace(headerValue(r.Header, CredentialHeader))
		c, err := inj.store.Get(ctx, tokens.Key{Project: p.Project, User: p.User, Integration: in.Key(), ID: credID})
		switch {
		case errors.Is(err, tokens.ErrNotFound) && credID != "":
			fail(w, response.Wrap(err, http.StatusNotFound, response.CodeCredentialNotFound, "No connection with this credential id for the user."))
			return
		case errors.Is(err, tokens.ErrNotFound):
			fail(w, response.Wrap(err, http.StatusBadRequest, response.CodeNotEnabled, response.MessageNotEnabled))
			return
		case err != nil:
			if !errors.Is(err, tokens.ErrUnavailable) {
				err = errors.Join(tokens.ErrUnavailable, err)
			}
			fail(w, err)
			return
		case !c.Active():
			fail(w, tokens.ErrReauthRequired)
			return
		}
		if g := in.Grant(); g != nil {
			if c, err = inj.refresher.Fresh(ctx, c, g, ""); err != nil {
				fail(w, err)
				return
			}
		}
		next.ServeHTTP(w, withContext(r, WithConnection(ctx, c)))
	})
}
