package integrations_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// tokenServer records token requests and answers what answer returns.
type tokenServer struct {
	mu     sync.Mutex
	reqs   []*recorded
	answer func(r *recorded) (int, string, string) // status, content type, body
	srv    *httptest.Server
	port   string
}

type recorded struct {
	path, ctype, user, pass string
	params                  map[string]string
}

func newTokenServer(t *testing.T, answer func(r *recorded) (int, string, string)) *tokenServer {
	ts := &tokenServer{answer: answer}
	ts.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorded{path: r.URL.Path, ctype: r.Header.Get("Content-Type"), params: map[string]string{}}
		rec.user, rec.pass, _ = r.BasicAuth()
		b, _ := io.ReadAll(r.Body)
		if strings.HasPrefix(rec.ctype, "application/json") {
			_ = json.Unmarshal(b, &rec.params)
		} else {
			v, _ := url.ParseQuery(string(b))
			for k := range v {
				rec.params[k] = v.Get(k)
			}
		}
		rec.path = r.Host + rec.path
		ts.mu.Lock()
		ts.reqs = append(ts.reqs, rec)
		ts.mu.Unlock()
		status, ct, body := ts.answer(rec)
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(ts.srv.Close)
	u, _ := url.Parse(ts.srv.URL)
	ts.port = u.Port()
	return ts
}

func (ts *tokenServer) last(t *testing.T) *recorded {
	t.Helper()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.reqs) == 0 {
		t.Fatal("no token request")
	}
	return ts.reqs[len(ts.reqs)-1]
}

func (ts *tokenServer) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.reqs)
}

// tenantConfig is a per-tenant provider whose token endpoints live on the
// tenant's host, reached on loopback through the fake resolver.
func tenantConfig(port string) integrations.Config {
	return integrations.Config{
		Type: "custom", Slug: "tenant",
		BaseURL:        "http://{shop}.shops.test:" + port + "/api",
		AllowedHosts:   []string{"*.shops.test"},
		AllowedSchemes: []string{"http"}, AllowedPorts: []int{mustAtoi(port)},
		AllowAddresses: []string{"127.0.0.0/8"},
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2, ClientID: "cid", ClientSecret: "csecret",
			AuthURL:                "http://{shop}.shops.test:" + port + "/authorize",
			TokenURL:               "http://{shop}.shops.test:" + port + "/token",
			RefreshURL:             "http://{shop}.shops.test:" + port + "/refresh",
			Scopes:                 []string{"read", "write"},
			ScopeParam:             "user_scope",
			ScopeSeparator:         ",",
			AuthParams:             map[string]string{"access_type": "offline", "shop_hint": "{shop}"},
			ReauthParams:           map[string]string{"prompt": "consent"},
			TokenParams:            map[string]string{"audience": "{shop}"},
			RefreshParams:          map[string]string{"scope": "read"},
			TokenBody:              integrations.TokenBodyJSON,
			TokenPaths:             integrations.TokenPaths{AccessToken: "authed_user.access_token", RefreshToken: "authed_user.refresh_token", ExpiresIn: "authed_user.expires_in"},
			DefaultLifetimeSeconds: 600,
		},
		Inputs:  []integrations.Input{{Name: "shop", Pattern: "[a-z0-9-]+"}},
		Capture: []integrations.Capture{{Field: "team", From: integrations.CaptureToken, Path: "team.id"}},
	}
}

func mustAtoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func resolverCtx(t *testing.T) (context.Context, *http.Client) {
	r := onbehalftest.NewFakeResolver(t, map[string][]string{"acme.shops.test": {"127.0.0.1"}, "other.shops.test": {"127.0.0.1"}})
	client := r.Client()
	return context.WithValue(context.Background(), oauth2.HTTPClient, client), client
}

func TestAuthCodeURLDialect(t *testing.T) {
	in, err := integrations.New(tenantConfig("8443"))
	if err != nil {
		t.Fatal(err)
	}
	pending := &tokens.Connection{Fields: map[string]string{"shop": "acme"}}
	verifier := oauth2.GenerateVerifier()
	s, err := in.AuthCodeURL(pending, integrations.AuthCodeRequest{RedirectURI: "https://app.example/cb", State: "st", Verifier: verifier})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s)
	q := u.Query()
	if u.Host != "acme.shops.test:8443" || q.Get("user_scope") != "read,write" || q.Has("scope") || q.Get("access_type") != "offline" ||
		q.Get("shop_hint") != "acme" || q.Get("client_id") != "cid" || q.Get("state") != "st" || q.Get("response_type") != "code" ||
		q.Get("redirect_uri") != "https://app.example/cb" || q.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(verifier) ||
		q.Get("code_challenge_method") != "S256" || q.Has("prompt") {
		t.Fatalf("authorization URL %s", s)
	}
	s, _ = in.AuthCodeURL(pending, integrations.AuthCodeRequest{RedirectURI: "https://app.example/cb", State: "st", Verifier: verifier, Reauth: true})
	if u, _ := url.Parse(s); u.Query().Get("prompt") != "consent" || u.Query().Get("access_type") != "offline" {
		t.Fatalf("a reconnect needs reauthParams: %s", s)
	}
	// A field value must never steer the browser elsewhere.
	evil := &tokens.Connection{Fields: map[string]string{"shop": "evil.example:8443/x?"}}
	if _, err := in.AuthCodeURL(evil, integrations.AuthCodeRequest{State: "st"}); !errors.Is(err, integrations.ErrEndpointHost) {
		t.Fatalf("steered authorization URL: %v", err)
	}
	// PKCE off sends no challenge.
	cfg := tenantConfig("8443")
	cfg.Auth.PKCE = integrations.PKCEOff
	in, _ = integrations.New(cfg)
	s, _ = in.AuthCodeURL(pending, integrations.AuthCodeRequest{State: "st", Verifier: verifier})
	if strings.Contains(s, "code_challenge") {
		t.Fatalf("pkce off: %s", s)
	}
}

func TestExchangeAndRefreshDialect(t *testing.T) {
	rotation := 0
	ts := newTokenServer(t, func(r *recorded) (int, string, string) {
		switch {
		case strings.HasSuffix(r.path, "/token"):
			return 200, "application/json", `{"ok":true,"team":{"id":"T42"},"authed_user":{"access_token":"at-1","refresh_token":"rt-1","expires_in":"3600"}}`
		case r.params["refresh_token"] == "rt-dead":
			return 400, "application/json", `{"error":"invalid_grant","error_description":"token rt-dead is revoked"}`
		case r.params["refresh_token"] == "rt-echo":
			return 400, "application/json", `{"error":"rt-echo","error_description":"rt-echo"}`
		default:
			rotation++
			return 200, "application/json", `{"authed_user":{"access_token":"at-2","refresh_token":"rt-2"}}`
		}
	})
	in, err := integrations.New(tenantConfig(ts.port))
	if err != nil {
		t.Fatal(err)
	}
	ctx, client := resolverCtx(t)
	pending := &tokens.Connection{Fields: map[string]string{"shop": "acme"}}
	before := time.Now()
	tok, err := in.Exchange(ctx, client, pending, "code-1", "https://app.example/cb", "ver-1")
	if err != nil {
		t.Fatal(err)
	}
	r := ts.last(t)
	if r.path != "acme.shops.test:"+ts.port+"/token" || r.ctype != "application/json" || r.user != "cid" || r.pass != "csecret" ||
		r.params["grant_type"] != "authorization_code" || r.params["code"] != "code-1" || r.params["code_verifier"] != "ver-1" ||
		r.params["audience"] != "acme" || r.params["redirect_uri"] != "https://app.example/cb" || r.params["client_secret"] != "" {
		t.Fatalf("exchange request %+v", r)
	}
	if tok.AccessToken != "at-1" || tok.RefreshToken != "rt-1" || tok.Expiry.Before(before.Add(3590*time.Second)) || tok.Expiry.After(time.Now().Add(3601*time.Second)) {
		t.Fatalf("token %+v", tok)
	}
	fields, err := in.TokenCaptures(tok, time.Now())
	if err != nil || fields["team"] != "T42" {
		t.Fatalf("captures %v %v", fields, err)
	}

	// The refresh: per-connection refresh URL, refreshParams, rotation,
	// and the default lifetime when the answer has no expires_in.
	conn := &tokens.Connection{Project: "p", User: "u", Integration: "custom.tenant", ID: "c1",
		Fields: map[string]string{"shop": "acme"}, Credential: tokens.Credential{RefreshToken: "rt-1"}}
	tok, err = in.Grant().Token(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	r = ts.last(t)
	if r.path != "acme.shops.test:"+ts.port+"/refresh" || r.params["grant_type"] != "refresh_token" || r.params["refresh_token"] != "rt-1" ||
		r.params["scope"] != "read" || r.ctype != "application/json" {
		t.Fatalf("refresh request %+v", r)
	}
	if tok.AccessToken != "at-2" || tok.RefreshToken != "rt-2" || time.Until(tok.Expiry) < 590*time.Second || time.Until(tok.Expiry) > 601*time.Second {
		t.Fatalf("refreshed token %+v (expiry in %s)", tok, time.Until(tok.Expiry))
	}

	// A dead grant is an invalid_grant RetrieveError: the Refresher marks reauth.
	conn.Credential.RefreshToken = "rt-dead"
	_, err = in.Grant().Token(ctx, conn)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("dead grant: %v", err)
	}
	// An endpoint that echoes the refresh token: the safe description omits it.
	conn.Credential.RefreshToken = "rt-echo"
	_, err = in.Grant().Token(ctx, conn)
	if err == nil || strings.Contains(tokens.DescribeError(err), "rt-echo") {
		t.Fatalf("description leaks the refresh token: %q", tokens.DescribeError(err))
	}

	// A field that points the refresh elsewhere is refused before any request.
	n := ts.count()
	conn.Fields["shop"] = "evil.example:" + ts.port + "/"
	conn.Credential.RefreshToken = "rt-2"
	if _, err := in.Grant().Token(ctx, conn); !errors.Is(err, integrations.ErrEndpointHost) || ts.count() != n {
		t.Fatalf("steered refresh: %v (requests %d → %d)", err, n, ts.count())
	}
	// No refresh token: reauth, without a request.
	conn.Fields["shop"] = "acme"
	conn.Credential.RefreshToken = ""
	if _, err := in.Grant().Token(ctx, conn); !errors.Is(err, tokens.ErrReauthRequired) || ts.count() != n {
		t.Fatalf("no refresh token: %v", err)
	}
}

// TestExchangeClientAuthParams: authStyle params sends the client in the
// body and no basic header; a form body by default.
func TestExchangeClientAuthParams(t *testing.T) {
	ts := newTokenServer(t, func(*recorded) (int, string, string) {
		return 200, "application/json", `{"access_token":"at","expires_in":120}`
	})
	cfg := tenantConfig(ts.port)
	cfg.Auth.AuthStyle = "params"
	cfg.Auth.TokenBody = ""
	cfg.Auth.TokenPaths = integrations.TokenPaths{}
	cfg.Capture = nil
	in, err := integrations.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, client := resolverCtx(t)
	tok, err := in.Exchange(ctx, client, &tokens.Connection{Fields: map[string]string{"shop": "other"}}, "c", "https://app.example/cb", "v")
	if err != nil {
		t.Fatal(err)
	}
	r := ts.last(t)
	if r.user != "" || r.params["client_id"] != "cid" || r.params["client_secret"] != "csecret" || r.ctype != "application/x-www-form-urlencoded" ||
		!strings.HasPrefix(r.path, "other.shops.test") {
		t.Fatalf("request %+v", r)
	}
	if d := time.Until(tok.Expiry); d < 110*time.Second || d > 121*time.Second {
		t.Fatalf("expires_in as a number: expiry in %s", d)
	}
}

// TestTokenInCustomHeader: an OAuth2 config whose header template carries
// {credential.access_token} sends the token there and adds no
// Authorization header.
func TestTokenInCustomHeader(t *testing.T) {
	in, err := integrations.New(integrations.Config{Type: "custom", Slug: "hdr", BaseURL: "https://{shop}.hdr.example/admin",
		AllowedHosts: []string{"*.hdr.example"}, Headers: map[string]string{"X-Hdr-Access-Token": "{credential.access_token}"},
		Inputs: []integrations.Input{{Name: "shop"}},
		Auth:   integrations.SchemeConfig{Type: integrations.AuthOAuth2, AuthURL: "https://{shop}.hdr.example/a", TokenURL: "https://{shop}.hdr.example/t"}})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	u, _ := url.Parse("https://acme.hdr.example/admin/x")
	c := &tokens.Connection{Fields: map[string]string{"shop": "acme"}, Credential: tokens.Credential{AccessToken: "at-1"}}
	if err := in.Apply(h, u, c); err != nil {
		t.Fatal(err)
	}
	if h.Get("X-Hdr-Access-Token") != "at-1" || h.Get("Authorization") != "" {
		t.Fatalf("headers %v", h)
	}
}

// TestClientCredentialsDialect: a client-credentials grant whose token
// endpoint is per tenant goes through the package's token client, with
// its host checked and auth.refreshParams sent.
func TestClientCredentialsDialect(t *testing.T) {
	ts := newTokenServer(t, func(*recorded) (int, string, string) {
		return 200, "application/json", `{"access_token":"cc-1","expires_in":60}`
	})
	cfg := tenantConfig(ts.port)
	cfg.Auth = integrations.SchemeConfig{Type: integrations.AuthClientCredentials, ClientID: "cid", ClientSecret: "csecret",
		TokenURL: "http://{shop}.shops.test:" + ts.port + "/cc", Scopes: []string{"a", "b"}, RefreshParams: map[string]string{"audience": "{shop}"}}
	cfg.Capture = nil
	in, err := integrations.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, _ := resolverCtx(t)
	tok, err := in.Grant().Token(ctx, &tokens.Connection{Fields: map[string]string{"shop": "acme"}})
	if err != nil || tok.AccessToken != "cc-1" {
		t.Fatalf("%v %v", tok, err)
	}
	r := ts.last(t)
	if r.params["grant_type"] != "client_credentials" || r.params["scope"] != "a b" || r.params["audience"] != "acme" || r.user != "cid" ||
		!strings.HasPrefix(r.path, "acme.shops.test") {
		t.Fatalf("request %+v", r)
	}
}

// TestEndpointValuesEscaped: a field's value after the authority is escaped
// (path before '?', query after), so it adds no path segment or parameter.
func TestEndpointValuesEscaped(t *testing.T) {
	in, err := integrations.New(integrations.Config{Type: "custom", Slug: "esc", BaseURL: "https://{shop}.esc.example/api",
		AllowedHosts: []string{"*.esc.example"}, Inputs: []integrations.Input{{Name: "shop"}, {Name: "tenant"}},
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2, ClientID: "cid",
			AuthURL: "https://{shop}.esc.example/o/{tenant}/authorize?hint={tenant}", TokenURL: "https://{shop}.esc.example/t"}})
	if err != nil {
		t.Fatal(err)
	}
	bad := "a/../b?x=1&y=2#f"
	s, err := in.AuthCodeURL(&tokens.Connection{Fields: map[string]string{"shop": "acme", "tenant": bad}}, integrations.AuthCodeRequest{State: "s"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "acme.esc.example" || q.Get("hint") != bad || q.Has("y") || u.Fragment != "" ||
		u.EscapedPath() != "/o/"+url.PathEscape(bad)+"/authorize" {
		t.Fatalf("escaping: %s (path %s)", s, u.EscapedPath())
	}
}
