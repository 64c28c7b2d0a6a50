package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	foauth2 "github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/storage"
	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/onbehalftest"
)

// The client the proxy authenticates as, and the resource owner whose
// password grant seeds a connection.
const (
	clientID     = "onbehalf-proxy"
	clientSecret = "proxy-secret-0123456789"
	ownerName    = "peter"
	ownerPass    = "peter-password"
)

// authServer is a real OAuth2 authorization server, ory/fosite, composed with
// the resource-owner password grant (to seed a connection with a real token
// pair), the refresh-token grant (rotating: every refresh revokes the
// presented refresh token and its access token; a revoked refresh token
// presented again revokes the whole family), client credentials, revocation
// (RFC 7009) and introspection. Its httptest server serves:
//
//	POST /oauth/token   the token endpoint, wrapped to count and to inject faults
//	POST /oauth/revoke  the revocation endpoint
//	     /api/...       a protected API: fosite introspects the bearer token, 401 if inactive
//
// fosite's storage.MemoryStore is an example store: RevokeRefreshToken
// writes its refresh-token map under the wrong mutex, and a rotation is not
// atomic. mu plays the database transaction: the token and revocation
// endpoints hold it exclusively, the API's introspection shares it. That
// makes reuse detection exact; it does not hide a double refresh by the
// proxy, which the accounting (presented) sees before the lock.
type authServer struct {
	srv      *httptest.Server
	base     string // http://localhost:PORT
	provider fosite.OAuth2Provider
	store    *storage.MemoryStore
	strategy *foauth2.HMACSHAStrategy
	client   *fosite.DefaultClientWithCustomTokenLifespans
	mu       sync.RWMutex

	acct      sync.Mutex
	grants    map[string]int // grant_type → token endpoint calls
	presented map[string]int // refresh token → times presented to fosite (faulted calls never reach it)
	issued    []string       // refresh tokens issued, in order
	refreshOK int            // refresh grants fosite answered 200
	refreshNo int            // refresh grants fosite refused (4xx/5xx from fosite itself)
	agents    map[string]int // User-Agent → refresh grants
	okAt      []time.Time    // when fosite answered each refresh grant with a token

	fault atomic.Pointer[tokenFault]

	apiCalls   atomic.Int64
	api401     atomic.Int64
	always401  atomic.Bool
	apiBodies  sync.Mutex
	apiPayload []string // request bodies the API accepted, in order
}

// tokenFault changes how the token endpoint answers refresh grants.
type tokenFault struct {
	status     int           // answer this status without asking fosite
	delay      time.Duration // wait this long before answering status
	hang       bool          // never answer (until the client gives up)
	delayAfter time.Duration // let fosite rotate, then wait this long before answering
	arrived    chan struct{} // when not nil, gets a value when a refresh grant arrives
	// hangBefore holds the refresh grant, without asking fosite, until its
	// client goes away (a holder killed before the provider rotated);
	// hangAfter lets fosite rotate and then holds the answer until the
	// client goes away (killed after the rotation, before its save).
	hangBefore, hangAfter bool
	// once clears the fault when the first refresh grant takes it.
	once bool
}

// tokenStats is a snapshot of the token endpoint's accounting.
type tokenStats struct {
	Calls     int      // all token endpoint calls, any grant
	Refreshes int      // refresh_token grants received (faulted ones included)
	Seeds     int      // password grants (the tests' own seeding)
	RefreshOK int      // refresh grants fosite answered with a token
	RefreshNo int      // refresh grants fosite refused
	Reused    []string // refresh tokens presented to fosite more than once
	Issued    []string
	Agents    map[string]int // User-Agent → refresh grants
	OKAt      []time.Time    // when each refresh grant was answered with a token
}

func newAuthServer(t testing.TB) *authServer {
	t.Helper()
	cfg := &fosite.Config{
		AccessTokenLifespan:  time.Hour,
		RefreshTokenLifespan: 24 * time.Hour,
		GlobalSecret:         []byte("fosite-e2e-global-secret-32bytes!"),
		HashCost:             4,          // bcrypt's minimum: client auth on every refresh stays cheap
		RefreshTokenScopes:   []string{}, // every grant gets a refresh token
	}
	hash, err := (&fosite.BCrypt{Config: cfg}).Hash(context.Background(), []byte(clientSecret))
	if err != nil {
		t.Fatal(err)
	}
	as := &authServer{
		store:     storage.NewMemoryStore(),
		strategy:  compose.NewOAuth2HMACStrategy(cfg),
		grants:    map[string]int{},
		presented: map[string]int{},
		agents:    map[string]int{},
	}
	as.client = &fosite.DefaultClientWithCustomTokenLifespans{
		DefaultClient: &fosite.DefaultClient{
			ID: clientID, Secret: hash,
			GrantTypes: []string{"password", "refresh_token", "client_credentials"},
			Scopes:     []string{"offline", "tasks"},
		},
		TokenLifespans: &fosite.ClientLifespanConfig{},
	}
	as.store.Clients[clientID] = as.client
	as.store.Users[ownerName] = storage.MemoryUserRelation{Username: ownerName, Password: ownerPass}
	as.provider = compose.Compose(cfg, as.store, as.strategy,
		compose.OAuth2ResourceOwnerPasswordCredentialsFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2TokenIntrospectionFactory,
	)

	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", as.token)
	mux.HandleFunc("POST /oauth/revoke", as.revoke)
	mux.HandleFunc("/api/", as.api)
	as.srv = httptest.NewServer(mux)
	t.Cleanup(as.srv.Close)
	as.base = onbehalftest.LocalhostURL(as.srv.URL)
	return as
}

// TokenURL is the token endpoint as the proxy is configured with it.
func (as *authServer) TokenURL() string { return as.base + "/oauth/token" }

// setFault makes refresh grants fail as f says; nil restores normal service.
func (as *authServer) setFault(f *tokenFault) { as.fault.Store(f) }

// token is the token endpoint: accounting and faults around fosite's.
func (as *authServer) token(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	grant := form.Get("grant_type")
	refresh := grant == "refresh_token"

	as.acct.Lock()
	as.grants[grant]++
	if refresh {
		as.agents[r.UserAgent()]++
	}
	as.acct.Unlock()

	var f tokenFault
	if p := as.fault.Load(); p != nil && refresh {
		f = *p
		if f.once && !as.fault.CompareAndSwap(p, nil) {
			f = tokenFault{} // another grant took it first
		}
	}
	if f.arrived != nil {
		select {
		case f.arrived <- struct{}{}:
		default:
		}
	}
	switch {
	case f.hangBefore:
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
		return
	case f.hang:
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
		return
	case f.status != 0:
		time.Sleep(f.delay)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, `{"error":"temporarily_unavailable"}`)
		return
	}

	if refresh {
		as.acct.Lock()
		as.presented[form.Get("refresh_token")]++
		as.acct.Unlock()
	}
	rec := httptest.NewRecorder()
	as.mu.Lock()
	as.fositeToken(rec, r)
	as.mu.Unlock()

	var answer struct {
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &answer)
	as.acct.Lock()
	if answer.RefreshToken != "" {
		as.issued = append(as.issued, answer.RefreshToken)
	}
	if refresh && rec.Code == http.StatusOK {
		as.refreshOK++
		as.okAt = append(as.okAt, time.Now())
	} else if refresh {
		as.refreshNo++
	}
	as.acct.Unlock()

	if f.delayAfter > 0 {
		time.Sleep(f.delayAfter) // fosite has rotated: the old refresh token is dead now
	}
	if f.hangAfter {
		select { // fosite has rotated; the answer never reaches the client
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// fositeToken is fosite's token endpoint, as its README wires it.
func (as *authServer) fositeToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := as.provider.NewAccessRequest(ctx, r, new(fosite.DefaultSession))
	if err != nil {
		as.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	if !ar.GetGrantTypes().ExactOne("refresh_token") {
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
	}
	resp, err := as.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		as.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	as.provider.WriteAccessResponse(ctx, w, ar, resp)
}

func (as *authServer) revoke(w http.ResponseWriter, r *http.Request) {
	as.mu.Lock()
	defer as.mu.Unlock()
	ctx := r.Context()
	as.provider.WriteRevocationResponse(ctx, w, as.provider.NewRevocationRequest(ctx, r))
}

// api is the protected resource: any path under /api/, bearer token checked
// by fosite's introspection.
func (as *authServer) api(w http.ResponseWriter, r *http.Request) {
	as.apiCalls.Add(1)
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	active := false
	if ok && !as.always401.Load() {
		as.mu.RLock()
		_, _, err := as.provider.IntrospectToken(r.Context(), tok, fosite.AccessToken, new(fosite.DefaultSession))
		as.mu.RUnlock()
		active = err == nil
	}
	if !active {
		as.api401.Add(1)
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_token"}`)
		return
	}
	body, _ := io.ReadAll(r.Body)
	as.apiBodies.Lock()
	as.apiPayload = append(as.apiPayload, string(body))
	as.apiBodies.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path, "method": r.Method})
}

// stats returns a snapshot of the token endpoint's accounting.
func (as *authServer) stats() tokenStats {
	as.acct.Lock()
	defer as.acct.Unlock()
	s := tokenStats{Refreshes: as.grants["refresh_token"], Seeds: as.grants["password"],
		RefreshOK: as.refreshOK, RefreshNo: as.refreshNo, Issued: append([]string(nil), as.issued...), Agents: maps.Clone(as.agents), OKAt: slices.Clone(as.okAt)}
	for _, n := range as.grants {
		s.Calls += n
	}
	for rt, n := range as.presented {
		if n > 1 {
			s.Reused = append(s.Reused, rt)
		}
	}
	return s
}

// lastIssued is the newest refresh token the endpoint handed out.
func (s tokenStats) lastIssued() string {
	if len(s.Issued) == 0 {
		return ""
	}
	return s.Issued[len(s.Issued)-1]
}

// assertNoReuse fails t if any refresh token reached the token endpoint twice.
func (as *authServer) assertNoReuse(t testing.TB) {
	t.Helper()
	if s := as.stats(); len(s.Reused) > 0 {
		t.Errorf("%d refresh token(s) presented more than once, want none", len(s.Reused))
	}
}

// oauth2Config is a client config for the tests' own calls (seeding).
func (as *authServer) oauth2Config() *oauth2.Config {
	return &oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, Scopes: []string{"offline", "tasks"},
		Endpoint: oauth2.Endpoint{TokenURL: as.TokenURL(), AuthStyle: oauth2.AuthStyleInHeader}}
}

// seed runs the password grant and returns a real fosite token pair whose
// access token lives accessTTL (negative: already expired at fosite).
func (as *authServer) seed(t testing.TB, accessTTL time.Duration) *oauth2.Token {
	t.Helper()
	as.mu.Lock()
	as.client.TokenLifespans.PasswordGrantAccessTokenLifespan = &accessTTL
	as.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tok, err := as.oauth2Config().PasswordCredentialsToken(ctx, ownerName, ownerPass)
	if err != nil {
		t.Fatalf("seeding a token pair: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("seeding: fosite issued no refresh token")
	}
	return tok
}

// dropAccessToken deletes an access token from fosite's storage, as a
// provider that revoked it early would: it no longer introspects as active,
// while its refresh token stays good.
func (as *authServer) dropAccessToken(t testing.TB, access string) {
	t.Helper()
	ctx := context.Background()
	as.mu.Lock()
	defer as.mu.Unlock()
	if err := as.store.DeleteAccessTokenSession(ctx, as.strategy.AccessTokenSignature(ctx, access)); err != nil {
		t.Fatal(err)
	}
}

// revokeRefresh revokes a refresh token (and its access token) through the
// RFC 7009 endpoint, as a user who disconnects the app at the provider.
func (as *authServer) revokeRefresh(t testing.TB, refresh string) {
	t.Helper()
	form := url.Values{"token": {refresh}, "token_type_hint": {"refresh_token"}}
	req, err := http.NewRequest(http.MethodPost, as.base+"/oauth/revoke", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation answered %d, want 200", resp.StatusCode)
	}
}
