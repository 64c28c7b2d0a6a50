package middleware

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware/upstream"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// Config assembles the whole chain. Only Projects (with keys) and Store are
// required.
type Config struct {
	// Prefix is the path the handler is mounted under when the host app does
	// not strip it (for example "/api/onbehalf"); "" when mounted at the root
	// or behind http.StripPrefix.
	Prefix string
	// Projects, their user-token keys and (unless Registry is set) their
	// integrations.
	Projects []ProjectConfig
	// Registry finds integrations; nil means a StaticRegistry built from
	// Projects[].Integrations.
	Registry integrations.Registry
	// Store holds connections. Required.
	Store tokens.Store
	// Refresher refreshes OAuth2 credentials; nil means one over Store with
	// default settings (one process; give it a shared Locker for replicas).
	Refresher *tokens.Refresher
	// Auth tunes token verification; its Projects field is filled from
	// Projects when empty.
	Auth AuthConfig
	// Forwarder tunes the upstream round trip; its Refresher field is filled
	// from Refresher when nil.
	Forwarder upstream.Config
	// Connect, when set, serves the account-connection routes
	// /projects/{projectID}/sdk/connect/... and the Connect Portal page
	// /projects/{projectID}/sdk/portal (see package connect). It receives the
	// Route in its request context and does its own authentication, because
	// the OAuth callback arrives without a user token.
	Connect http.Handler
	// MaxHeaderBytes caps the request's header (names and values of every
	// field); beyond it the answer is 431 REQUEST_HEADERS_TOO_LARGE. Zero
	// means 64 KiB; negative means no cap here (the http.Server's own
	// MaxHeaderBytes still applies before the handler runs).
	MaxHeaderBytes int
	// Observer receives one Record per request (access logs, metrics,
	// traces): see LogObserver and the otelobserver module. Nil means none.
	Observer Observer
	// KeepAlive, when not nil, starts a tokens.KeepAlive with these settings
	// in New (stopped by Close): connections are refreshed in the
	// background before they are due, so no request waits on a refresh.
	// Its empty Store, Refresher and Grant are filled with the handler's
	// Store, Refresher and the Grant of each connection's integration in
	// the Registry. The Store must offer a tokens.DueIndex (MemoryStore,
	// redisstore and pgstore do, through Cached and Sealed too). Nil means
	// no background refresh.
	KeepAlive *tokens.KeepAliveConfig
	// Metadata keeps each user's metadata (the SDK's setUserMetadata, PATCH
	// /sdk/me), returned by GET /sdk/me; nil means a MemoryMetadata (one
	// process: give replicas a shared store).
	Metadata MetadataStore
}

// Handler serves every route of the wire contract. Build it with New; it is
// safe for concurrent use.
type Handler struct {
	obs       Observer
	maxHeader int
	prefix    string
	router    *mux.Router
	proxy     http.Handler // the proxy chain, from Auth to the Forwarder
	dispatch  http.Handler // h.serve, as a value made once
	auth      *Auth
	fwd       *upstream.Forwarder
	keepAlive *tokens.KeepAlive // nil unless Config.KeepAlive
	// ownRefresher is the Refresher New made (Config.Refresher was nil):
	// Close waits for its refreshes in flight. A caller's own Refresher is
	// the caller's to shut down.
	ownRefresher *tokens.Refresher
}

// closeRefreshWait bounds how long Close waits for refreshes in flight to
// be saved.
const closeRefreshWait = 10 * time.Second

var _ http.Handler = (*Handler)(nil)

// New validates cfg and assembles the chain:
//
//	router → Auth → Resolver → Injector → Guard → response.SetMode → Forwarder
//
// and, for the SDK bootstrap routes, router → Auth → Bootstrap.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("middleware: Config.Store is required")
	}
	if cfg.Prefix != "" && (!strings.HasPrefix(cfg.Prefix, "/") || strings.HasSuffix(cfg.Prefix, "/")) {
		return nil, errors.New(`middleware: Config.Prefix must start with "/" and not end with "/"`)
	}
	reg := cfg.Registry
	if reg == nil {
		m := map[string][]integrations.Config{}
		for _, p := range cfg.Projects {
			m[p.ID] = p.Integrations
		}
		sr, err := integrations.NewStaticRegistry(m)
		if err != nil {
			return nil, err
		}
		reg = sr
	}
	if len(cfg.Auth.Projects) == 0 {
		cfg.Auth.Projects = cfg.Projects
	}
	auth, err := NewAuth(cfg.Auth)
	if err != nil {
		return nil, err
	}
	resolver, err := NewResolver(reg)
	if err != nil {
		return nil, err
	}
	injector, err := NewInjector(InjectorConfig{Store: cfg.Store, Refresher: cfg.Refresher})
	if err != nil {
		return nil, err
	}
	if cfg.Forwarder.Refresher == nil {
		cfg.Forwarder.Refresher = injector.Refresher()
	}
	fwd, err := upstream.New(cfg.Forwarder)
	if err != nil {
		return nil, err
	}
	boot, err := NewBootstrap(reg, cfg.Store)
	if err != nil {
		return nil, err
	}
	if boot.metadata = cfg.Metadata; boot.metadata == nil {
		boot.metadata = NewMemoryMetadata()
	}

	proxy := Chain(auth.Handler, resolver.Handler, injector.Handler, NewGuard().Handler, response.SetMode)(fwd)
	root := mux.NewRouter().SkipClean(true).UseEncodedPath()
	r := root
	if cfg.Prefix != "" {
		r = root.PathPrefix(cfg.Prefix).Subrouter()
	}
	sdk := "/projects/{project}/sdk"
	// The proxy routes come first: they are the hot path, and mux tries
	// routes in order. custom/{id} precedes {integration}, which would match
	// "custom" too.
	r.Handle(sdk+"/proxy/custom/{id}/{path:.*}", routed(RouteProxy, proxy))
	r.Handle(sdk+"/proxy/custom/{id}", routed(RouteProxy, proxy))
	r.Handle(sdk+"/proxy/{integration}/{path:.*}", routed(RouteProxy, proxy))
	r.Handle(sdk+"/proxy/{integration}", routed(RouteProxy, proxy))
	r.Handle(sdk+"/me", routed(RouteMe, auth.Handler(http.HandlerFunc(boot.Me)))).Methods(http.MethodGet, http.MethodPatch)
	r.Handle(sdk+"/integrations", routed(RouteIntegrations, auth.Handler(http.HandlerFunc(boot.Integrations)))).Methods(http.MethodGet)
	if cfg.Connect != nil {
		// The connect handler finds the project in the path itself: it gets
		// the path without the prefix, so that the first /projects/{p}/sdk/
		// it sees is the route's.
		connect := cfg.Connect
		if cfg.Prefix != "" {
			connect = http.StripPrefix(cfg.Prefix, connect)
		}
		r.PathPrefix(sdk + "/connect").Handler(routed(RouteConnect, connect))
		r.Handle(sdk+"/portal", routed(RouteConnect, connect))
		// The official SDK's account functions (connect/account.go).
		r.Handle("/ui", routed(RouteConnect, connect)).Methods(http.MethodGet, http.MethodHead)
		r.PathPrefix(sdk + "/actions/").Handler(routed(RouteConnect, connect))
		r.PathPrefix("/v2" + sdk + "/actions/").Handler(routed(RouteConnect, connect))
		r.PathPrefix(sdk + "/credentials").Handler(routed(RouteConnect, connect))
		r.Handle(sdk+"/integrations/{id}", routed(RouteConnect, connect)).Methods(http.MethodDelete)
	}
	root.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		response.WriteError(w, response.New(http.StatusNotFound, response.CodeNotFound, "No such route."))
	})
	root.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		response.WriteError(w, response.New(http.StatusMethodNotAllowed, response.CodeMethodNotAllowed, "Method not allowed on this route."))
	})
	if r != root {
		r.NotFoundHandler = root.NotFoundHandler
		r.MethodNotAllowedHandler = root.MethodNotAllowedHandler
	}
	if cfg.MaxHeaderBytes == 0 {
		cfg.MaxHeaderBytes = 64 << 10
	}
	ka, err := startKeepAlive(cfg.KeepAlive, cfg.Store, injector.Refresher(), reg)
	if err != nil {
		auth.Close()
		return nil, err
	}
	h := &Handler{obs: cfg.Observer, maxHeader: cfg.MaxHeaderBytes, prefix: cfg.Prefix, router: root, proxy: proxy, auth: auth, fwd: fwd, keepAlive: ka}
	if cfg.Refresher == nil {
		h.ownRefresher = injector.Refresher()
	}
	h.dispatch = http.HandlerFunc(h.serve)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.maxHeader > 0 && headerSize(r.Header) > h.maxHeader {
		response.WriteError(w, response.New(http.StatusRequestHeaderFieldsTooLarge, response.CodeHeadersTooLarge, "The request headers are larger than the configured limit."))
		return
	}
	if h.obs != nil {
		serveObserved(h.obs, h.dispatch, w, r)
		return
	}
	h.serve(w, r)
}

// serve routes the request. Proxy calls, the hot path, are matched by
// matchProxy without the router's regular expressions and request copies;
// everything else (and any path matchProxy does not take) goes to the
// router, whose proxy routes accept exactly the same paths.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	if rt, ok := matchProxy(h.prefix, r.URL.EscapedPath()); ok {
		h.serveProxy(w, r, rt)
		return
	}
	h.router.ServeHTTP(w, r)
}

// matchProxy parses the proxy routes of the wire contract from the escaped
// path, as the router's four proxy routes would:
//
//	{prefix}/projects/{project}/sdk/proxy/custom/{id}/{path:.*}
//	{prefix}/projects/{project}/sdk/proxy/custom/{id}
//	{prefix}/projects/{project}/sdk/proxy/{integration}/{path:.*}
//	{prefix}/projects/{project}/sdk/proxy/{integration}
//
// where a {name} is one or more bytes other than "/". The variables are
// still percent-encoded. TestMatchProxyAgreesWithRouter and FuzzMatchProxy
// hold it to the router's answers.
func matchProxy(prefix, p string) (Route, bool) {
	p, ok := strings.CutPrefix(p, prefix)
	if !ok {
		return Route{}, false
	}
	if p, ok = strings.CutPrefix(p, "/projects/"); !ok {
		return Route{}, false
	}
	project, p, _ := strings.Cut(p, "/")
	if project == "" {
		return Route{}, false
	}
	if p, ok = strings.CutPrefix(p, "sdk/proxy/"); !ok {
		return Route{}, false
	}
	if rest, ok := strings.CutPrefix(p, "custom/"); ok {
		if id, apiPath, _ := strings.Cut(rest, "/"); id != "" {
			return Route{Kind: RouteProxy, Project: project, CustomID: id, APIPath: apiPath}, true
		}
	}
	integration, apiPath, _ := strings.Cut(p, "/")
	if integration == "" {
		return Route{}, false
	}
	return Route{Kind: RouteProxy, Project: project, Integration: integration, APIPath: apiPath}, true
}

// Close releases background work (JWKS refreshes, the KeepAlive) and idle
// upstream connections. When New made the Refresher, Close first waits (up
// to 10 s) for the refreshes in flight to be saved, so that a refresh token
// the provider has just rotated is not lost with the process; later
// refreshes through this handler fail (tokens.ErrRefresherShutDown).
func (h *Handler) Close() {
	if h.keepAlive != nil {
		_ = h.keepAlive.Close()
	}
	if h.ownRefresher != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeRefreshWait)
		_ = h.ownRefresher.Shutdown(ctx)
		cancel()
	}
	h.auth.Close()
	h.fwd.CloseIdleConnections()
}

// routed stores the Route parsed from the path in the context. Path variables
// arrive percent-encoded (the router matches the raw path); the project and
// integration are decoded, the API path is kept as sent.
func routed(kind RouteKind, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := mux.Vars(r)
		serveRoute(w, r, Route{Kind: kind, Project: v["project"], Integration: v["integration"], CustomID: v["id"], APIPath: v["path"]}, next)
	})
}

// serveRoute decodes the project, integration and custom id of a route
// matched on the escaped path (the API path is kept as sent), refuses names
// that decode to a separator or NUL, and serves next with the route stored.
func serveRoute(w http.ResponseWriter, r *http.Request, rt Route, next http.Handler) {
	var err error
	if rt.Project, err = url.PathUnescape(rt.Project); err == nil {
		if rt.Integration, err = url.PathUnescape(rt.Integration); err == nil {
			rt.CustomID, err = url.PathUnescape(rt.CustomID)
		}
	}
	if err != nil || badName(rt.Project) || badName(rt.Integration) || badName(rt.CustomID) {
		response.WriteError(w, response.New(http.StatusBadRequest, response.CodeBadRequest, "Malformed route."))
		return
	}
	next.ServeHTTP(w, withContext(r, WithRoute(r.Context(), rt)))
}

// serveProxy is serveRoute for a proxy call. The Forwarder's deadline starts
// here, when the request comes in, so that it bounds the whole call (token
// check, connection load, a refresh being waited for, the round trip), and
// the request is copied once for the deadline and the state together.
func (h *Handler) serveProxy(w http.ResponseWriter, r *http.Request, rt Route) {
	ctx := r.Context()
	// A malformed timeout header is left to the Forwarder, which answers 400
	// after the token is checked, as for every other request option.
	if d, err := h.fwd.Timeout(r.Header); err == nil && d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
		var s *reqState
		ctx, s = ensureState(ctx)
		s.up.DeadlineSet = true
		r = r.WithContext(ctx)
	}
	serveRoute(w, r, rt, h.proxy)
}

func badName(s string) bool { return strings.ContainsAny(s, "/\\\x00") }

// headerSize is the size of h as sent: names, values and separators.
func headerSize(h http.Header) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}
