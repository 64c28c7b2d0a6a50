package oauth

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

const (
	project     = "proj-e2e"
	user        = "user-1"
	slug        = "fositeapp"
	integration = "custom." + slug
)

// proxyEnv is the onbehalf handler in front of an authServer: one user
// connected to custom.fositeapp, whose API base is the auth server's /api.
type proxyEnv struct {
	as      *authServer
	store   *tokens.MemoryStore
	signer  *onbehalftest.Signer
	handler *middleware.Handler
	srv     *httptest.Server
	key     tokens.Key // the seeded connection, ID included
	bearer  string     // "Bearer <user token>"
}

// proxyOptions tune newProxyEnv; zero values are the handler's defaults.
type proxyOptions struct {
	Timeout  time.Duration // tokens.RefresherConfig.Timeout
	Cooldown time.Duration // tokens.RefresherConfig.Cooldown
	// AuthStyle is the integration's auth.authStyle. "" (detect) makes
	// x/oauth2 send a failed token request a second time with the client
	// credentials in the form, presenting the refresh token twice, until it
	// has once seen a success for the token URL; the failure tests pin
	// "header" so that they count the proxy's own requests.
	AuthStyle string
}

// fositeIntegration is the integration config of the auth server's API.
func fositeIntegration(as *authServer, authStyle string) integrations.Config {
	u, _ := url.Parse(as.base)
	port, _ := strconv.Atoi(u.Port())
	return integrations.Config{
		Type: "custom", Slug: slug, Name: "Fosite app",
		BaseURL:        as.base + "/api",
		AllowedSchemes: []string{"http"},
		AllowedPorts:   []int{port},
		AllowAddresses: []string{"127.0.0.0/8", "::1/128"},
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2, TokenURL: as.TokenURL(),
			ClientID: clientID, ClientSecret: clientSecret, Scopes: []string{"offline", "tasks"}, AuthStyle: authStyle},
	}
}

// newProxyEnv stores tok as the user's connection and starts the handler.
func newProxyEnv(t testing.TB, as *authServer, tok *oauth2.Token, o proxyOptions) *proxyEnv {
	t.Helper()
	e := &proxyEnv{as: as, store: tokens.NewMemoryStore()}
	var err error
	if e.signer, err = onbehalftest.NewSigner("e2e-key"); err != nil {
		t.Fatal(err)
	}
	e.bearer = "Bearer " + e.signer.MustToken(project, user)
	c := &tokens.Connection{Project: project, User: user, Integration: integration,
		Credential: tokens.Credential{}.WithOAuth2Token(tok)}
	if err := e.store.Save(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	e.key = c.Key()
	rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: e.store, Timeout: o.Timeout, Cooldown: o.Cooldown})
	if err != nil {
		t.Fatal(err)
	}
	e.handler, err = middleware.New(middleware.Config{
		Projects: []middleware.ProjectConfig{{ID: project, Keys: []middleware.KeyConfig{e.signer.KeyConfig()},
			Integrations: []integrations.Config{fositeIntegration(as, o.AuthStyle)}}},
		Store:     e.store,
		Refresher: rf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.handler.Close)
	e.srv = httptest.NewServer(e.handler)
	t.Cleanup(e.srv.Close)
	return e
}

// result is one proxied call as the caller sees it.
type result struct {
	status int
	body   []byte
	err    error // transport error (the caller gave up)
}

// errorBody decodes the proxy's JSON error body.
func (r result) errorBody(t testing.TB) response.Body {
	t.Helper()
	var b response.Body
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return b
}

// do sends one request through the proxy to path under the API, as the user.
func (e *proxyEnv) do(ctx context.Context, method, path, body string) result {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method,
		e.srv.URL+"/projects/"+project+"/sdk/proxy/"+integration+"/"+path, rd)
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Authorization", e.bearer)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, body: b, err: err}
}

// get is do with a bounded context, failing t on a transport error.
func (e *proxyEnv) get(t testing.TB, path string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := e.do(ctx, http.MethodGet, path, "")
	if r.err != nil {
		t.Fatalf("GET %s: %v", path, r.err)
	}
	return r
}

// stored returns the connection as the store holds it.
func (e *proxyEnv) stored(t testing.TB) *tokens.Connection {
	t.Helper()
	c, err := e.store.Get(context.Background(), e.key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// expire marks the stored access token as expired, so the next request refreshes.
func (e *proxyEnv) expire(t testing.TB) {
	t.Helper()
	c := e.stored(t)
	c.Credential.Expiry = time.Now().Add(-time.Minute)
	if err := e.store.Save(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// fanOut sends n requests at once and returns their results.
func (e *proxyEnv) fanOut(n int, path string, timeout time.Duration) []result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := make([]result, n)
	start := make(chan struct{})
	done := make(chan int, n)
	for i := range n {
		go func() {
			<-start
			out[i] = e.do(ctx, http.MethodGet, path, "")
			done <- i
		}()
	}
	close(start)
	for range n {
		<-done
	}
	return out
}
