package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// The confidential client package connect signs in as.
const (
	connectClientID     = "onbehalf-connect"
	connectClientSecret = "connect-secret-0123456789"
)

// codeServer adds the authorization-code grant with PKCE to an authServer:
// a second fosite provider, composed over the same storage and HMAC strategy,
// so the tokens it issues introspect at the authServer's /api and the
// authServer's accounting lock (as.mu) still plays the transaction. fosite
// is configured as strictly as it goes: EnforcePKCE, S256 only (plain is
// refused), exact redirect URI of a registered confidential client. Its
// httptest server serves:
//
//	GET  /oauth/authorize  fosite's authorize endpoint; approves at once for ownerName
//	POST /oauth/token      authorization_code and refresh_token (rotating)
//	     /api/...          records the bearer token, then the authServer's introspecting API
type codeServer struct {
	as       *authServer
	provider fosite.OAuth2Provider
	srv      *httptest.Server
	base     string // http://localhost:PORT

	mu        sync.Mutex
	authz     []authorization // authorize requests fosite approved
	refused   []string        // authorize requests fosite refused: their error
	calls     []tokenCall     // token endpoint calls
	apiBearer []string        // bearer tokens presented to /api, in order
}

// authorization is one authorize request as fosite accepted it.
type authorization struct {
	ClientID, RedirectURI, State string
	Challenge, ChallengeMethod   string
	Scopes                       []string
	Code                         string // the code fosite issued
}

// tokenCall is one token endpoint call and fosite's answer.
type tokenCall struct {
	Grant        string
	Code         string // authorization_code: the code presented
	Verifier     string // authorization_code: the code_verifier presented ("" when absent)
	RedirectURI  string
	Refresh      string // refresh_token: the refresh token presented
	Status       int
	Error        string // fosite's OAuth error code when refused
	AccessToken  string // issued
	RefreshToken string // issued
}

// newCodeServer registers the connect client with redirectURIs (exact
// matches) and starts the server.
func newCodeServer(t testing.TB, as *authServer, redirectURIs ...string) *codeServer {
	t.Helper()
	cfg := &fosite.Config{
		AccessTokenLifespan:            time.Hour,
		RefreshTokenLifespan:           24 * time.Hour,
		AuthorizeCodeLifespan:          10 * time.Minute,
		HashCost:                       4,
		RefreshTokenScopes:             []string{}, // every grant gets a refresh token
		EnforcePKCE:                    true,
		EnablePKCEPlainChallengeMethod: false,
	}
	hash, err := (&fosite.BCrypt{Config: cfg}).Hash(context.Background(), []byte(connectClientSecret))
	if err != nil {
		t.Fatal(err)
	}
	cs := &codeServer{as: as}
	as.mu.Lock()
	as.store.Clients[connectClientID] = &fosite.DefaultClient{
		ID: connectClientID, Secret: hash,
		RedirectURIs:  redirectURIs,
		GrantTypes:    []string{"authorization_code", "refresh_token"},
		ResponseTypes: []string{"code"},
		Scopes:        []string{"offline", "tasks"},
	}
	as.mu.Unlock()
	// The same storage and strategy as the authServer's provider: one
	// authorization server with two sets of enabled grants.
	cs.provider = compose.Compose(cfg, as.store, as.strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2PKCEFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenIntrospectionFactory,
	)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/authorize", cs.authorize)
	mux.HandleFunc("POST /oauth/token", cs.token)
	mux.HandleFunc("/api/", cs.api)
	cs.srv = httptest.NewServer(mux)
	t.Cleanup(cs.srv.Close)
	cs.base = onbehalftest.LocalhostURL(cs.srv.URL)
	return cs
}

func (cs *codeServer) AuthURL() string  { return cs.base + "/oauth/authorize" }
func (cs *codeServer) TokenURL() string { return cs.base + "/oauth/token" }

// integration is custom.fositeapp as connected through the authorize
// endpoint: its API is /api here, its token endpoint this server's.
func (cs *codeServer) integration() integrations.Config {
	u, _ := url.Parse(cs.base)
	port, _ := strconv.Atoi(u.Port())
	return integrations.Config{
		Type: "custom", Slug: slug, Name: "Fosite app",
		BaseURL:        cs.base + "/api",
		AllowedSchemes: []string{"http"},
		AllowedPorts:   []int{port},
		AllowAddresses: []string{"127.0.0.0/8", "::1/128"},
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2,
			AuthURL: cs.AuthURL(), TokenURL: cs.TokenURL(),
			ClientID: connectClientID, ClientSecret: connectClientSecret,
			Scopes: []string{"offline", "tasks"},
			// "header" so that a refused exchange is one request, not
			// x/oauth2's detection retry with the credentials in the form.
			AuthStyle: "header"},
	}
}

// authorize is fosite's authorize endpoint with a consent screen that
// approves every requested scope for ownerName at once.
func (cs *codeServer) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cs.as.mu.Lock()
	defer cs.as.mu.Unlock()
	ar, err := cs.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		cs.refuse(err)
		cs.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	sess := &fosite.DefaultSession{Subject: ownerName, Username: ownerName}
	resp, err := cs.provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		cs.refuse(err)
		cs.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	form := ar.GetRequestForm()
	cs.mu.Lock()
	cs.authz = append(cs.authz, authorization{
		ClientID: ar.GetClient().GetID(), RedirectURI: ar.GetRedirectURI().String(), State: ar.GetState(),
		Challenge: form.Get("code_challenge"), ChallengeMethod: form.Get("code_challenge_method"),
		Scopes: append([]string(nil), ar.GetGrantedScopes()...), Code: resp.GetCode(),
	})
	cs.mu.Unlock()
	cs.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

func (cs *codeServer) refuse(err error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.refused = append(cs.refused, fosite.ErrorToRFC6749Error(err).ErrorField)
}

// token is fosite's token endpoint, recording what each call presented and
// what fosite answered.
func (cs *codeServer) token(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	call := tokenCall{Grant: form.Get("grant_type"), Code: form.Get("code"), Verifier: form.Get("code_verifier"),
		RedirectURI: form.Get("redirect_uri"), Refresh: form.Get("refresh_token")}

	rec := httptest.NewRecorder()
	func() {
		ctx := r.Context()
		cs.as.mu.Lock()
		defer cs.as.mu.Unlock()
		ar, err := cs.provider.NewAccessRequest(ctx, r, new(fosite.DefaultSession))
		if err != nil {
			cs.provider.WriteAccessError(ctx, rec, ar, err)
			return
		}
		resp, err := cs.provider.NewAccessResponse(ctx, ar)
		if err != nil {
			cs.provider.WriteAccessError(ctx, rec, ar, err)
			return
		}
		cs.provider.WriteAccessResponse(ctx, rec, ar, resp)
	}()

	var answer struct {
		Error        string `json:"error"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &answer)
	call.Status, call.Error = rec.Code, answer.Error
	call.AccessToken, call.RefreshToken = answer.AccessToken, answer.RefreshToken
	cs.mu.Lock()
	cs.calls = append(cs.calls, call)
	cs.mu.Unlock()

	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// api records the presented bearer token and serves the authServer's API.
func (cs *codeServer) api(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	cs.mu.Lock()
	cs.apiBearer = append(cs.apiBearer, tok)
	cs.mu.Unlock()
	cs.as.api(w, r)
}

// authorizations returns the approved authorize requests so far.
func (cs *codeServer) authorizations() []authorization {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]authorization(nil), cs.authz...)
}

// refusals returns the errors of the refused authorize requests so far.
func (cs *codeServer) refusals() []string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]string(nil), cs.refused...)
}

// tokenCalls returns the token endpoint calls of grant ("" for all) so far.
func (cs *codeServer) tokenCalls(grant string) []tokenCall {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var out []tokenCall
	for _, c := range cs.calls {
		if grant == "" || c.Grant == grant {
			out = append(out, c)
		}
	}
	return out
}

// lastBearer is the bearer token of the latest /api request.
func (cs *codeServer) lastBearer() string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.apiBearer) == 0 {
		return ""
	}
	return cs.apiBearer[len(cs.apiBearer)-1]
}
