package connect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// Config configures a Handler. Registry, Store, Auth and PublicURL are
// required; every other zero value is safe.
type Config struct {
	// Registry finds the project's integrations (share it with
	// middleware.Config.Registry).
	Registry integrations.Registry
	// Store receives the connections (share it with middleware.Config.Store).
	Store tokens.Store
	// Auth verifies user tokens on every route except the OAuth callback and
	// the portal page: a *middleware.Auth over the same projects, or any
	// Verifier.
	Auth Verifier
	// PublicURL is the externally visible base URL where the handler is
	// mounted, such as "https://app.example.com/api/integrations". The OAuth
	// redirect URI is exactly {PublicURL}/projects/{projectID}/sdk/connect/callback:
	// register that with each provider.
	PublicURL string
	// ReturnURLs maps a project id to the URL prefixes a start call may name
	// as its returnUrl: the scheme and host must be equal and the path must
	// start with the prefix's path at a segment boundary. The project's own
	// portal page is always allowed. Nil allows only the portal. The origins
	// of these URLs are also the only ones allowed to frame the portal and to
	// hand it a user token by postMessage.
	ReturnURLs map[string][]string
	// States keeps pending authorization requests between start and callback;
	// nil means an in-memory store (one process; give replicas a shared one).
	States StateStore
	// StateTTL is how long a started connection may take; zero means 10 minutes.
	StateTTL time.Duration
	// SkipBrowserBinding turns off the cookie that binds a started connection
	// to the browser that started it. Leave it off unless start is called
	// from somewhere other than the browser that completes the flow (a
	// backend calling start, or a portal in a cross-site iframe whose
	// cookies the browser blocks): without the binding, a user who is sent
	// someone else's authorization link and approves it connects their
	// provider account to that someone's user.
	SkipBrowserBinding bool
	// CaptureFields maps an integration key ("salesforce", "custom.tasklab")
	// to further token-response fields to keep in Connection.Fields, besides
	// the well-known ones (see WellKnownFields).
	CaptureFields map[string][]string
	// Validate, when set, checks entered API keys and passwords before they
	// are saved, typically with one test request to the provider; an error
	// answers 400 CONNECT_CREDENTIALS_REJECTED and saves nothing. Nil saves
	// without a check.
	Validate func(ctx context.Context, in *integrations.Integration, c *tokens.Connection) error
	// RevocationURLs maps an integration key to its RFC 7009 revocation
	// endpoint; a disconnect posts the refresh token (or the access token)
	// there before deleting the connection. No entry: nothing is revoked.
	RevocationURLs map[string]string
	// HTTPClient calls token and revocation endpoints; nil means a client
	// with a 30s timeout.
	HTTPClient *http.Client
	// Resolver resolves the provider API hosts of lookups and verification,
	// which go through a guarded client (internal addresses refused, except
	// an integration's AllowAddresses; no redirects); nil means
	// net.DefaultResolver.
	Resolver *net.Resolver
	// Logger receives failures of token exchanges and revocations (never a
	// token or code); nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Events, when not nil, is told of each connection saved or deleted,
	// after the store succeeded: give it a *lifecycle.Emitter for webhooks
	// and Go handlers. Nil tells no one.
	Events EventSink
	// AccountAuth maps an integration key to true when the SDK's
	// getIntegrationAccount(type, {includeAccountAuth: true}) may read the
	// stored credential (tokens, API key, password) of the user's connection.
	// Nil or a missing entry: never; such a request answers 403
	// ACCOUNT_AUTH_NOT_ALLOWED.
	AccountAuth map[string]bool
}

// Handler serves the account-connection routes and the Connect Portal page.
// Mount it as middleware.Config.Connect, or alone under any router: it reads
// the project from the path /projects/{projectID}/sdk/... either way. It is
// safe for concurrent use.
type Handler struct {
	reg       integrations.Registry
	store     tokens.Store
	auth      Verifier
	public    *url.URL
	returns   map[string][]allowedURL
	states    StateStore
	ttl       time.Duration
	bind      bool
	capture   map[string][]string
	validate  func(context.Context, *integrations.Integration, *tokens.Connection) error
	revoke    map[string]string
	client    *http.Client
	log       *slog.Logger
	now       func() time.Time
	portalCSP map[string]string // project → frame-ancestors sources, built once
	events    EventSink
	resolver  *net.Resolver
	// apiClients caches the guarded client of each *integrations.Integration.
	apiClients sync.Map
	acctAuth   map[string]bool
}

var _ http.Handler = (*Handler)(nil)

// New validates cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Registry == nil:
		return nil, errors.New("connect: Config.Registry is required")
	case cfg.Store == nil:
		return nil, errors.New("connect: Config.Store is required")
	case cfg.Auth == nil:
		return nil, errors.New("connect: Config.Auth is required")
	case cfg.StateTTL < 0:
		return nil, errors.New("connect: Config.StateTTL must not be negative")
	}
	pub, err := url.Parse(strings.TrimSuffix(cfg.PublicURL, "/"))
	if err != nil || (pub.Scheme != "https" && pub.Scheme != "http") || pub.Host == "" ||
		pub.User != nil || pub.RawQuery != "" || pub.Fragment != "" || pub.Opaque != "" {
		return nil, errors.New("connect: Config.PublicURL must be an absolute http(s) URL without userinfo, query or fragment")
	}
	h := &Handler{reg: cfg.Registry, store: cfg.Store, auth: cfg.Auth, public: pub,
		returns: map[string][]allowedURL{}, states: cfg.States, ttl: cfg.StateTTL, bind: !cfg.SkipBrowserBinding,
		capture: cfg.CaptureFields, validate: cfg.Validate, revoke: map[string]string{},
		client: cfg.HTTPClient, log: cfg.Logger, now: cfg.Now, portalCSP: map[string]string{}, events: cfg.Events, resolver: cfg.Resolver,
		acctAuth: cfg.AccountAuth}
	for project, list := range cfg.ReturnURLs {
		for _, s := range list {
			a, err := parseAllowed(s)
			if err != nil {
				return nil, fmt.Errorf("connect: ReturnURLs[%q]: %q: %w", project, s, err)
			}
			h.returns[project] = append(h.returns[project], a)
		}
		h.portalCSP[project] = frameAncestors(h.returns[project])
	}
	for key, s := range cfg.RevocationURLs {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("connect: RevocationURLs[%q] is not an absolute http(s) URL", key)
		}
		h.revoke[key] = s
	}
	if h.states == nil {
		h.states = NewMemoryStateStore()
	}
	if h.ttl == 0 {
		h.ttl = 10 * time.Minute
	}
	if h.client == nil {
		h.client = &http.Client{Timeout: 30 * time.Second}
	}
	// Code exchanges and revocations carry the client secret and tokens:
	// never through a proxy from the environment.
	h.client = tokens.DirectClient(h.client)
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h, nil
}

// RedirectURI returns the OAuth redirect URI of project: register it with
// each provider's OAuth app.
func (h *Handler) RedirectURI(project string) string {
	return h.projectBase(project) + "/connect/callback"
}

// PortalURL returns the address of project's Connect Portal page, without
// the #token fragment the host app adds.
func (h *Handler) PortalURL(project string) string {
	return h.projectBase(project) + "/portal"
}

func (h *Handler) projectBase(project string) string {
	return h.public.String() + "/projects/" + url.PathEscape(project) + "/sdk"
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.serveSDK(w, r) {
		return
	}
	rt, ok := parseRoute(r)
	if !ok {
		notFound(w)
		return
	}
	method := func(m string, serve func(http.ResponseWriter, *http.Request, route)) {
		if allowMethod(w, r, m) {
			serve(w, r, rt)
		}
	}
	switch rest := rt.rest; {
	case len(rest) == 1 && rest[0] == "portal":
		method(http.MethodGet, h.portal)
	case len(rest) == 2 && rest[0] == "connect" && rest[1] == "callback":
		method(http.MethodGet, h.callback)
	case len(rest) == 2 && rest[0] == "connect" && rest[1] == "methods" && r.Method == http.MethodGet:
		h.methods(w, r, rt)
	case len(rest) == 2 && rest[0] == "connect" && rest[1] == "inputs" && r.Method == http.MethodGet:
		h.inputs(w, r, rt)
	case len(rest) == 2 && rest[0] == "connect" && rest[1] == "choose" && r.Method == http.MethodPost:
		h.choose(w, r, rt)
	case len(rest) == 3 && rest[0] == "connect" && rest[2] == "start":
		method(http.MethodPost, h.start)
	case len(rest) == 3 && rest[0] == "connect" && rest[2] == "credentials":
		method(http.MethodPost, h.credentials)
	case len(rest) == 2 && rest[0] == "connect":
		method(http.MethodDelete, h.disconnect)
	default:
		notFound(w)
	}
}

func notFound(w http.ResponseWriter) {
	response.WriteError(w, response.New(http.StatusNotFound, response.CodeNotFound, "No such route."))
}

// storeError maps a tokens.Store failure to its answer.
func storeError(err error) error {
	switch {
	case errors.Is(err, tokens.ErrNotFound):
		return response.Wrap(err, http.StatusNotFound, response.CodeCredentialNotFound, "No such connection.")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	default:
		e := response.Wrap(err, http.StatusServiceUnavailable, response.CodeStoreUnavailable, "The credential store is unavailable.")
		e.RetryAfter = 2 * time.Second // as upstream.StoreRetryAfter
		return e
	}
}

// methods serves GET connect/methods: how each of the project's integrations
// is connected ("oauth", "api_key", "basic" or "none"), for the portal.
func (h *Handler) methods(w http.ResponseWriter, r *http.Request, rt route) {
	if _, err := h.principal(r, rt); err != nil {
		response.WriteError(w, err)
		return
	}
	ins, err := h.reg.List(r.Context(), rt.project)
	if err != nil {
		response.WriteError(w, err)
		return
	}
	out := make(map[string]string, len(ins))
	for _, in := range ins {
		out[in.Key()] = method(in)
	}
	response.WriteJSON(w, http.StatusOK, out)
}

// inputs serves GET connect/inputs: the inputs each of the project's
// integrations asks before connecting (name, label, pattern, example, help,
// optional, secret), for the portal's inputs step. Integrations without
// inputs are left out.
func (h *Handler) inputs(w http.ResponseWriter, r *http.Request, rt route) {
	if _, err := h.principal(r, rt); err != nil {
		response.WriteError(w, err)
		return
	}
	ins, err := h.reg.List(r.Context(), rt.project)
	if err != nil {
		response.WriteError(w, err)
		return
	}
	out := map[string][]integrations.Input{}
	for _, in := range ins {
		if list := in.Inputs(); len(list) > 0 {
			out[in.Key()] = list
		}
	}
	response.WriteJSON(w, http.StatusOK, out)
}

// method names how an integration is connected.
func method(in *integrations.Integration) string {
	switch in.AuthType() {
	case integrations.AuthOAuth2:
		if in.Config().Auth.AuthURL != "" {
			return "oauth"
		}
	case integrations.AuthAPIKey:
		return "api_key"
	case integrations.AuthBasic:
		return "basic"
	}
	return "none"
}

// allowMethod reports whether r's method is m (HEAD counts as GET), and
// otherwise answers 405 with Allow: m.
func allowMethod(w http.ResponseWriter, r *http.Request, m string) bool {
	if r.Method == m || m == http.MethodGet && r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", m)
	response.WriteError(w, response.New(http.StatusMethodNotAllowed, response.CodeMethodNotAllowed, "Method not allowed on this route."))
	return false
}

// errNotOAuth answers a flow step that needs an OAuth integration.
var errNotOAuth = response.New(http.StatusBadRequest, response.CodeConnectUnsupported,
	"This integration is not connected through OAuth; use the credentials route.")
