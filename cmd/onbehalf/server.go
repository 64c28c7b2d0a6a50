package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/middleware/upstream"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// server is the assembled production server.
type server struct {
	cfg       *Config
	log       *slog.Logger
	stores    *stores
	metrics   *metrics
	refresher *tokens.Refresher
	proxy     *middleware.Handler
	handler   http.Handler // the main listener's routes
	manage    http.Handler // the management API (also in handler unless manage.listen)
	// connectAuth verifies user tokens for the connect routes.
	connectAuth *middleware.Auth
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// newServer builds the stores, the proxy, the connect flow and the
// management API from a validated config.
func newServer(ctx context.Context, l *loaded, log *slog.Logger) (*server, error) {
	c := l.Config
	st, err := openStores(ctx, c.Store, true)
	if err != nil {
		return nil, err
	}
	s := &server{cfg: c, log: log, stores: st}
	ok := false
	defer func() {
		if !ok {
			st.close()
		}
	}()

	known := map[string]bool{}
	regCfg := map[string][]integrations.Config{}
	projects := map[string]bool{}
	for _, p := range c.Projects {
		projects[p.ID] = true
		regCfg[p.ID] = p.Integrations
		for _, ic := range p.Integrations {
			if in, err := integrations.New(ic); err == nil {
				known[in.Key()] = true
			}
		}
	}
	s.metrics = newMetrics(known)
	store := tokens.Store(countedStore{Store: st.conns, m: s.metrics})
	reg, err := integrations.NewStaticRegistry(regCfg)
	if err != nil {
		return nil, err
	}

	s.refresher, err = tokens.NewRefresher(tokens.RefresherConfig{Store: store, Locker: st.locker,
		Margin: seconds(c.Refresh.MarginSeconds), Timeout: seconds(c.Refresh.TimeoutSeconds), Cooldown: seconds(c.Refresh.CooldownSeconds),
		OnRefresh: s.metrics.refreshed,
		OnRefreshFailed: func(ev tokens.RefreshEvent, err error) {
			s.metrics.refreshFailed(ev)
			log.Warn("refresh failed", "connection", ev.Key.String(), "needsReauth", ev.NeedsReauth, "err", err)
		}})
	if err != nil {
		return nil, err
	}

	pub, _ := url.Parse(c.PublicURL)
	auth, err := middleware.NewAuth(middleware.AuthConfig{Projects: c.Projects, ClockSkew: seconds(c.ClockSkewSeconds),
		MaxLifetime: seconds(c.MaxTokenLifetimeSeconds)})
	if err != nil {
		return nil, err
	}
	var connectHandler http.Handler
	if !c.Connect.Disabled {
		ch, err := connect.New(connect.Config{Registry: reg, Store: store, Auth: auth, PublicURL: c.PublicURL,
			ReturnURLs: c.Connect.ReturnURLs, Logger: log, States: st.states})
		if err != nil {
			auth.Close()
			return nil, err
		}
		connectHandler = ch
	}
	s.connectAuth = auth
	var keepAlive *tokens.KeepAliveConfig
	if c.Refresh.KeepAlive {
		keepAlive = &tokens.KeepAliveConfig{}
	}
	s.proxy, err = middleware.New(middleware.Config{
		Prefix:    pub.Path,
		Projects:  c.Projects,
		Registry:  reg,
		Store:     store,
		Metadata:  st.metadata,
		Refresher: s.refresher,
		Connect:   connectHandler,
		KeepAlive: keepAlive,
		Observer:  middleware.Observers(&middleware.LogObserver{Logger: log}, s.metrics),
		Auth: middleware.AuthConfig{ClockSkew: seconds(c.ClockSkewSeconds),
			MaxLifetime: seconds(c.MaxTokenLifetimeSeconds)},
		Forwarder: upstream.Config{Timeout: seconds(c.TimeoutSeconds), MaxRequestBytes: c.MaxRequestBytes,
			Response: response.Config{MaxJSONBytes: c.MaxJSONResponseBytes},
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
	})
	if err != nil {
		auth.Close()
		return nil, err
	}

	m := &manager{keys: parseKeys(c.Manage.APIKeys), reg: reg, projects: projects, store: store, meta: st.metadata,
		log: log, metrics: s.metrics, revoke: revoker{log: log}.revoke, verify: verifyAt}
	s.manage = m.handler()
	mux := http.NewServeMux()
	if c.Manage.Listen == "" {
		mux.Handle(manageBase+"/", s.manage)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		response.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("/", s.proxy)
	s.handler = mux
	ok = true
	return s, nil
}

// ready answers 200 when the store answers a ping within 2 seconds, 503
// otherwise (the cause is logged, not answered).
func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.stores.ping(ctx); err != nil {
		s.log.Warn("readyz: store unreachable", "err", err)
		response.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unreachable"})
		return
	}
	response.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// httpServer returns the main listener's server. Its header limit is
// net/http's default (1 MiB), above the proxy's own
// (middleware.Config.MaxHeaderBytes, 64 KiB): an oversized header gets the
// proxy's JSON 431, not the server's plain-text one.
func (s *server) httpServer() *http.Server {
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: http.DefaultMaxHeaderBytes,
		IdleTimeout: 120 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	if s.cfg.TLS != nil {
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return hs
}

// serve runs the listeners until ctx ends, then shuts down gracefully:
// no new connections, requests in flight finished, refreshes in flight
// saved, all within ShutdownSeconds.
// metricsLn and manageLn may be nil (no metrics listener; the management
// API on ln).
func (s *server) serve(ctx context.Context, ln, metricsLn, manageLn net.Listener) error {
	hs := s.httpServer()
	errc := make(chan error, 3)
	go func() {
		if s.cfg.TLS != nil {
			errc <- hs.ServeTLS(ln, s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	var ms *http.Server
	if metricsLn != nil {
		ms = &http.Server{Handler: s.metrics.handler(), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
		go func() { errc <- ms.Serve(metricsLn) }()
	}
	var mg *http.Server
	if manageLn != nil {
		mg = s.httpServer()
		mg.Handler = s.manage
		go func() {
			if s.cfg.TLS != nil {
				errc <- mg.ServeTLS(manageLn, s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
			} else {
				errc <- mg.Serve(manageLn)
			}
		}()
	}
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	wait := seconds(s.cfg.ShutdownSeconds)
	if wait == 0 {
		wait = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if serr := hs.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	if mg != nil {
		_ = mg.Shutdown(sctx)
	}
	// Requests are done; a refresh still running (its caller gone, or the
	// keep-alive's) is waited for so that its new token is saved.
	s.proxy.Close()
	s.connectAuth.Close()
	if rerr := s.refresher.Shutdown(sctx); rerr != nil {
		s.log.Warn("refreshes still in flight at the shutdown deadline", "err", rerr)
	}
	if ms != nil {
		_ = ms.Shutdown(sctx)
	}
	s.stores.close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
