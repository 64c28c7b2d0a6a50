package onbehalftest

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/tokens"
)

// Env is a complete setup for tests: a TaskLab upstream on loopback, an
// in-memory store with one connected user, a signer for user tokens, and the
// onbehalf handler, served by an httptest server.
type Env struct {
	Project string // "proj-test"
	User    string // "user-1", connected to custom.tasklab
	Signer  *Signer
	TaskLab *TaskLab
	// Upstream serves TaskLab at http://localhost:<port>.
	Upstream *httptest.Server
	// UpstreamBase is TaskLab's API base, "http://localhost:<port>/api".
	UpstreamBase string
	Store        *tokens.MemoryStore
	Handler      *middleware.Handler
	// Server serves Handler; its URL is the base for SDK calls.
	Server *httptest.Server
	// Connection is the seeded connection of User.
	Connection *tokens.Connection
	// Resolver resolves every host name the handler looks up (upstream
	// transport, token endpoints, JWKS) unless Configure set its own; only
	// "localhost" is in its table. Add names with Resolver.Set; check
	// Resolver.Unknown for names the handler asked for and should not have.
	Resolver *FakeResolver
}

// EnvOptions adjust NewEnv.
type EnvOptions struct {
	// Configure, when set, may change the handler config before New.
	Configure func(*middleware.Config)
	// AccessTTL is the seeded access token's remaining life; zero means one
	// hour, negative means already expired (the first call refreshes).
	AccessTTL time.Duration
}

// TaskLabID is the id of the custom integration TaskLabIntegration returns,
// reachable as custom/{TaskLabID} as well as custom.tasklab.
const TaskLabID = "11111111-2222-4333-8444-555555555555"

// TaskLabIntegration returns the integration config of TaskLab served at
// base ("http://localhost:PORT/api"), reachable as custom.tasklab, with its
// authorization and token endpoints and scopes, and permission to reach
// loopback addresses.
func TaskLabIntegration(base, clientID, clientSecret string) integrations.Config {
	u, _ := url.Parse(base)
	port, _ := strconv.Atoi(u.Port())
	return integrations.Config{
		Type: "custom", ID: TaskLabID, Slug: "tasklab", Name: "TaskLab",
		BaseURL:        base,
		AllowedSchemes: []string{"http"},
		AllowedPorts:   []int{port},
		AllowAddresses: []string{"127.0.0.0/8", "::1/128"},
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2,
			AuthURL:  u.Scheme + "://" + u.Host + "/oauth/authorize",
			TokenURL: u.Scheme + "://" + u.Host + "/oauth/token", ClientID: clientID, ClientSecret: clientSecret,
			Scopes: []string{"tasks.read", "tasks.write"}},
	}
}

// LocalhostURL turns an httptest server URL (http://127.0.0.1:PORT) into
// http://localhost:PORT: the proxy refuses IP-literal hosts.
func LocalhostURL(u string) string {
	p, _ := url.Parse(u)
	_, port, _ := net.SplitHostPort(p.Host)
	return p.Scheme + "://localhost:" + port
}

// NewEnv starts an Env and registers its cleanup with t.
func NewEnv(t testing.TB, opts ...EnvOptions) *Env {
	t.Helper()
	var o EnvOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.AccessTTL == 0 {
		o.AccessTTL = time.Hour
	}
	e := &Env{Project: "proj-test", User: "user-1"}
	var err error
	if e.Signer, err = NewSigner("test-key"); err != nil {
		t.Fatal(err)
	}
	e.TaskLab = NewTaskLab("tasklab-client", "tasklab-secret")
	e.Upstream = httptest.NewServer(e.TaskLab)
	t.Cleanup(e.Upstream.Close)
	e.UpstreamBase = LocalhostURL(e.Upstream.URL) + "/api"

	e.Store = tokens.NewMemoryStore()
	access, refresh := e.TaskLab.Issue(o.AccessTTL)
	e.Connection = &tokens.Connection{Project: e.Project, User: e.User, Integration: "custom.tasklab",
		Credential: tokens.Credential{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", Expiry: time.Now().Add(o.AccessTTL)}}
	if err := e.Store.Save(context.Background(), e.Connection); err != nil {
		t.Fatal(err)
	}
	cfg := middleware.Config{
		Projects: []middleware.ProjectConfig{{ID: e.Project, Keys: []middleware.KeyConfig{e.Signer.KeyConfig()},
			Integrations: []integrations.Config{TaskLabIntegration(e.UpstreamBase, "tasklab-client", "tasklab-secret")}}},
		Store: e.Store,
	}
	e.Resolver = NewFakeResolver(t, nil)
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	e.useResolver(t, &cfg)
	if e.Handler, err = middleware.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Handler.Close)
	e.Server = httptest.NewServer(e.Handler)
	t.Cleanup(e.Server.Close)
	return e
}

// useResolver makes every name lookup of the handler that cfg does not
// route elsewhere go through e.Resolver: the upstream transport (unless a
// RoundTripper replaces it), the refresher's token endpoint client and the
// JWKS client.
func (e *Env) useResolver(t testing.TB, cfg *middleware.Config) {
	t.Helper()
	if cfg.Forwarder.Transport.Resolver == nil {
		cfg.Forwarder.Transport.Resolver = e.Resolver.Resolver()
	}
	if cfg.Auth.HTTPClient == nil {
		cfg.Auth.HTTPClient = e.Resolver.Client()
	}
	if cfg.Refresher == nil && cfg.Store != nil {
		rc := tokens.RefresherConfig{Store: cfg.Store, HTTPClient: e.Resolver.Client()}
		if cfg.Events != nil {
			rc.OnRefresh, rc.OnRefreshFailed = cfg.Events.RefreshHooks()
		}
		rf, err := tokens.NewRefresher(rc)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Refresher = rf
	}
}

// Token mints a user token for the env's user.
func (e *Env) Token(opts ...TokenOptions) string {
	return e.Signer.MustToken(e.Project, e.User, opts...)
}

// ProxyURL returns the proxy URL of path for integration, on the env's server.
func (e *Env) ProxyURL(integration, path string) string {
	return e.Server.URL + "/projects/" + e.Project + "/sdk/proxy/" + integration + "/" + path
}

// Do sends a request with the env user's token and returns the response.
func (e *Env) Do(t testing.TB, method, target string, body *string, header http.Header) *http.Response {
	t.Helper()
	var req *http.Request
	var err error
	if body != nil {
		req, err = http.NewRequest(method, target, stringsReader(*body))
	} else {
		req, err = http.NewRequest(method, target, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+e.Token())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// Get sends GET target with the env user's token and returns the status and
// body. It does not follow redirects: a 3xx is returned as it is, so a test
// sees a router that sends the client elsewhere.
func (e *Env) Get(t testing.TB, target string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.Token())
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
