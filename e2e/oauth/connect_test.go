package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// Package connect's authorization code flow with PKCE against fosite: the
// code, the S256 challenge and the verifier are checked by a real
// authorization server, and the connection it creates refreshes (with
// rotation) like a seeded one.

// returnURL is where the host app wants the browser back.
const returnURL = "https://app.example.com/settings/integrations"

// wrongVerifierUser is the user whose pending states lose their PKCE
// verifier on the way to the callback (see tamperStates).
const wrongVerifierUser = "user-wrong-verifier"

// connectEnv is the proxy with package connect mounted, in front of a
// codeServer.
type connectEnv struct {
	as       *authServer
	cs       *codeServer
	store    *tokens.MemoryStore
	signer   *onbehalftest.Signer
	connect  *connect.Handler
	srv      *httptest.Server
	redirect string // the redirect URI registered at fosite
	logs     *onbehalftest.LogBuffer
}

// tamperStates is the memory state store, except that a state of
// wrongVerifierUser comes back with another (well-formed) PKCE verifier.
type tamperStates struct{ connect.StateStore }

func (s tamperStates) Take(ctx context.Context, key string) (connect.State, error) {
	st, err := s.StateStore.Take(ctx, key)
	if err == nil && st.User == wrongVerifierUser {
		st.Verifier = oauth2.GenerateVerifier()
	}
	return st, err
}

func newConnectEnv(t *testing.T) *connectEnv {
	t.Helper()
	e := &connectEnv{as: newAuthServer(t), store: tokens.NewMemoryStore(), logs: &onbehalftest.LogBuffer{}}
	// The proxy's address is its public URL, known before the provider
	// registers the redirect URI.
	e.srv = httptest.NewUnstartedServer(nil)
	public := "http://" + e.srv.Listener.Addr().String()
	e.redirect = public + "/projects/" + project + "/sdk/connect/callback"
	e.cs = newCodeServer(t, e.as, e.redirect)

	var err error
	if e.signer, err = onbehalftest.NewSigner("e2e-connect-key"); err != nil {
		t.Fatal(err)
	}
	projects := []middleware.ProjectConfig{{ID: project, Keys: []middleware.KeyConfig{e.signer.KeyConfig()}}}
	reg, err := integrations.NewStaticRegistry(map[string][]integrations.Config{project: {e.cs.integration()}})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := middleware.NewAuth(middleware.AuthConfig{Projects: projects})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(auth.Close)
	e.connect, err = connect.New(connect.Config{Registry: reg, Store: e.store, Auth: auth, PublicURL: public,
		ReturnURLs: map[string][]string{project: {"https://app.example.com/settings"}},
		States:     tamperStates{connect.NewMemoryStateStore()},
		Logger:     slog.New(slog.NewTextHandler(e.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.connect.RedirectURI(project); got != e.redirect {
		t.Fatalf("RedirectURI %q, want %q", got, e.redirect)
	}
	h, err := middleware.New(middleware.Config{Projects: projects, Registry: reg, Store: e.store, Connect: e.connect})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	e.srv.Config.Handler = h
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

// browser keeps cookies like a user's browser. follow goes along a
// redirect only when it leads to the connect callback, so a flow ends at
// the callback's own answer; noFollow stops at the first answer.
type browser struct {
	jar      *cookiejar.Jar
	follow   *http.Client
	noFollow *http.Client
}

func newBrowser(t *testing.T, redirectURI string) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{jar: jar,
		follow: &http.Client{Jar: jar, Timeout: 10 * time.Second,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				u := *req.URL
				u.RawQuery = ""
				if u.String() == redirectURI && len(via) < 5 {
					return nil
				}
				return http.ErrUseLastResponse
			}},
		noFollow: &http.Client{Jar: jar, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// get fetches target with c and returns the response, its body read.
func get(t *testing.T, c *http.Client, target string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(target)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// location parses resp's Location, failing t unless resp is a redirect.
func location(t *testing.T, resp *http.Response, want int) *url.URL {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d", resp.Request.Method, resp.Request.URL, resp.StatusCode, want)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		t.Fatalf("Location %q: %v", resp.Header.Get("Location"), err)
	}
	return u
}

// start calls POST connect/{integration}/start as user from b and returns
// the provider authorization URL.
func (e *connectEnv) start(t *testing.T, b *browser, user string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"returnUrl": returnURL})
	req, err := http.NewRequest(http.MethodPost,
		e.srv.URL+"/projects/"+project+"/sdk/connect/"+integration+"/start", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.signer.MustToken(project, user))
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		URL string `json:"url"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.URL == "" {
		t.Fatalf("start: %d %s", resp.StatusCode, raw)
	}
	return out.URL
}

// authorize visits authURL in b without going on to the callback and
// returns the callback URL fosite redirects to.
func (e *connectEnv) authorize(t *testing.T, b *browser, authURL string) *url.URL {
	t.Helper()
	resp, _ := get(t, b.noFollow, authURL)
	cb := location(t, resp, http.StatusSeeOther)
	u := *cb
	u.RawQuery, u.Fragment = "", ""
	if u.String() != e.redirect {
		t.Fatalf("fosite redirected to %s, want the redirect URI %s", cb, e.redirect)
	}
	return cb
}

// stored returns user's connection, nil when there is none.
func (e *connectEnv) stored(t *testing.T, user string) *tokens.Connection {
	t.Helper()
	c, err := e.store.Get(context.Background(), tokens.Key{Project: project, User: user, Integration: integration})
	if errors.Is(err, tokens.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// proxy sends GET path under the integration's API through the proxy as user.
func (e *connectEnv) proxy(t *testing.T, user, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/projects/"+project+"/sdk/proxy/"+integration+"/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.signer.MustToken(project, user))
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func wantOutcome(t *testing.T, u *url.URL, status, errCode string) {
	t.Helper()
	q := u.Query()
	if q.Get("onbehalf_status") != status || q.Get("error") != errCode {
		t.Fatalf("outcome %s: status %q error %q, want %q %q", u, q.Get("onbehalf_status"), q.Get("error"), status, errCode)
	}
}

// TestConnectAuthorizationCodePKCE: start → fosite's authorize endpoint →
// callback → code exchange with the PKCE verifier at fosite → the saved
// connection calls fosite's API → after expiry it refreshes once, rotating.
func TestConnectAuthorizationCodePKCE(t *testing.T) {
	e := newConnectEnv(t)
	b := newBrowser(t, e.redirect)

	authURL := e.start(t, b, user)
	au, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	aq := au.Query()
	if !strings.HasPrefix(authURL, e.cs.AuthURL()+"?") || aq.Get("client_id") != connectClientID ||
		aq.Get("redirect_uri") != e.redirect || aq.Get("response_type") != "code" || aq.Get("scope") != "offline tasks" {
		t.Fatalf("authorization URL %s", authURL)
	}
	if aq.Get("code_challenge_method") != "S256" || len(aq.Get("code_challenge")) != 43 || aq.Has("code_verifier") {
		t.Fatalf("authorization URL lacks an S256 challenge or leaks the verifier: %s", authURL)
	}
	cbBase, _ := url.Parse(e.redirect)
	if n := len(b.jar.Cookies(cbBase)); n != 1 {
		t.Fatalf("browser holds %d binding cookies for the callback, want 1", n)
	}

	// The browser goes to fosite, fosite approves and redirects to the
	// callback, the callback answers with the return URL.
	resp, _ := get(t, b.follow, authURL)
	fositeAnswer := resp.Request.Response
	if fositeAnswer == nil {
		t.Fatalf("fosite did not redirect: %d", resp.StatusCode)
	}
	if fositeAnswer.StatusCode != http.StatusSeeOther || fositeAnswer.Request.URL.String() != authURL {
		t.Errorf("fosite answered %d to %s, want a 303 to the callback", fositeAnswer.StatusCode, fositeAnswer.Request.URL)
	}
	callbackURL := resp.Request.URL
	cq := callbackURL.Query()
	if cq.Get("code") == "" || cq.Get("state") != aq.Get("state") || cq.Has("error") {
		t.Fatalf("fosite's redirect to the callback: %s", callbackURL)
	}
	out := location(t, resp, http.StatusSeeOther)
	wantOutcome(t, out, connect.StatusConnected, "")
	if !strings.HasPrefix(out.String(), returnURL+"?") || out.Query().Get("integration") != integration {
		t.Errorf("outcome %s, want the return URL with the integration", out)
	}
	if n := len(b.jar.Cookies(cbBase)); n != 0 {
		t.Errorf("browser still holds %d binding cookies after the callback, want 0", n)
	}

	// fosite saw an S256 challenge, and the one exchange carried the
	// verifier that hashes to it (fosite refuses any other: see
	// TestConnectRefusals/wrong_verifier).
	authz := e.cs.authorizations()
	if len(authz) != 1 {
		t.Fatalf("fosite approved %d authorize requests, want 1", len(authz))
	}
	az := authz[0]
	if az.ChallengeMethod != "S256" || az.Challenge != aq.Get("code_challenge") || az.ClientID != connectClientID ||
		az.RedirectURI != e.redirect || az.State != aq.Get("state") || az.Code != cq.Get("code") {
		t.Errorf("fosite's authorize request: %+v", az)
	}
	if r := e.cs.refusals(); len(r) != 0 {
		t.Errorf("fosite refused authorize requests: %v", r)
	}
	calls := e.cs.tokenCalls("")
	if len(calls) != 1 || calls[0].Grant != "authorization_code" {
		t.Fatalf("token endpoint calls %+v, want one authorization_code grant", calls)
	}
	ex := calls[0]
	if ex.Status != http.StatusOK || ex.Code != az.Code || ex.RedirectURI != e.redirect {
		t.Fatalf("code exchange: %+v", ex)
	}
	if ex.Verifier == "" || oauth2.S256ChallengeFromVerifier(ex.Verifier) != az.Challenge {
		t.Fatalf("code exchange carried verifier %q, which does not hash to the challenge %q", ex.Verifier, az.Challenge)
	}
	for _, secret := range []string{ex.Verifier, az.Code, az.State, ex.AccessToken, ex.RefreshToken} {
		if strings.Contains(out.String(), url.QueryEscape(secret)) {
			t.Errorf("outcome URL %s holds a secret of the flow", out)
		}
	}

	c := e.stored(t, user)
	if c == nil {
		t.Fatal("no connection saved")
	}
	if c.ID != out.Query().Get("credentialId") || !c.Active() ||
		c.Credential.AccessToken != ex.AccessToken || c.Credential.RefreshToken != ex.RefreshToken || ex.RefreshToken == "" {
		t.Fatalf("stored connection %+v, want fosite's token pair, active, id %q", c, out.Query().Get("credentialId"))
	}
	if d := time.Until(c.Credential.Expiry); d < 50*time.Minute || d > 61*time.Minute {
		t.Errorf("stored expiry in %v, want fosite's hour", d)
	}

	// Replaying the callback (browser history) is refused before the token
	// endpoint: fosite would treat a second use of the code as theft and
	// revoke the tokens just issued.
	resp, _ = get(t, b.follow, callbackURL.String())
	replay := location(t, resp, http.StatusSeeOther)
	wantOutcome(t, replay, connect.StatusError, connect.ErrorStateInvalid)
	if n := len(e.cs.tokenCalls("")); n != 1 {
		t.Fatalf("token endpoint calls after the replay: %d, want still 1", n)
	}

	// The proxy calls fosite's API with the new access token.
	if st, body := e.proxy(t, user, "tasks"); st != http.StatusOK || !strings.Contains(body, `"/api/tasks"`) {
		t.Fatalf("proxy with the new connection: %d %s", st, body)
	}
	if e.cs.lastBearer() != ex.AccessToken {
		t.Error("the API did not receive the access token of the code exchange")
	}

	// The access token expires (in the store): one refresh at fosite, which
	// rotates the pair.
	c.Credential.Expiry = time.Now().Add(-time.Minute)
	if err := e.store.Save(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if st, body := e.proxy(t, user, "tasks/2"); st != http.StatusOK || !strings.Contains(body, `"/api/tasks/2"`) {
		t.Fatalf("proxy after expiry: %d %s", st, body)
	}
	refreshes := e.cs.tokenCalls("refresh_token")
	if len(refreshes) != 1 {
		t.Fatalf("refresh grants %d, want 1", len(refreshes))
	}
	rf := refreshes[0]
	if rf.Status != http.StatusOK || rf.Refresh != ex.RefreshToken || rf.RefreshToken == "" ||
		rf.RefreshToken == ex.RefreshToken || rf.AccessToken == ex.AccessToken {
		t.Fatalf("refresh: status %d error %q, presented the exchange's refresh token: %v, rotated: %v",
			rf.Status, rf.Error, rf.Refresh == ex.RefreshToken, rf.RefreshToken != "" && rf.RefreshToken != ex.RefreshToken)
	}
	c = e.stored(t, user)
	if c.Credential.AccessToken != rf.AccessToken || c.Credential.RefreshToken != rf.RefreshToken || !c.Active() ||
		!c.Credential.Expiry.After(time.Now().Add(30*time.Minute)) {
		t.Fatal("stored credential is not the rotated pair fosite issued")
	}
	if e.cs.lastBearer() != rf.AccessToken {
		t.Error("the API did not receive the refreshed access token")
	}
	// fosite revoked the first access token when it rotated.
	req, _ := http.NewRequest(http.MethodGet, e.cs.base+"/api/probe", nil)
	req.Header.Set("Authorization", "Bearer "+ex.AccessToken)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the first access token after rotation: %d at the API, want 401", resp.StatusCode)
	}
	// The rotated pair keeps working without another token request.
	if st, body := e.proxy(t, user, "tasks"); st != http.StatusOK {
		t.Fatalf("proxy after the refresh: %d %s", st, body)
	}
	if n := len(e.cs.tokenCalls("")); n != 2 {
		t.Errorf("token endpoint calls %d, want 2 (one exchange, one refresh)", n)
	}
	if n := e.as.api401.Load(); n != 1 {
		t.Errorf("API answered 401 %d times, want 1 (the probe with the revoked token)", n)
	}
}

// TestConnectRefusals: callbacks that must not reach fosite's token
// endpoint, a verifier fosite refuses, and fosite's own PKCE enforcement.
func TestConnectRefusals(t *testing.T) {
	e := newConnectEnv(t)

	t.Run("tampered state", func(t *testing.T) {
		const u = "user-tamper"
		b := newBrowser(t, e.redirect)
		cb := e.authorize(t, b, e.start(t, b, u))
		before := len(e.cs.tokenCalls(""))

		q := cb.Query()
		state := q.Get("state")
		last := state[len(state)-1:]
		flip := map[bool]string{true: "B", false: "A"}[last == "A"]
		q.Set("state", state[:len(state)-1]+flip)
		tampered := *cb
		tampered.RawQuery = q.Encode()
		resp, _ := get(t, b.follow, tampered.String())
		out := location(t, resp, http.StatusSeeOther)
		wantOutcome(t, out, connect.StatusError, connect.ErrorStateInvalid)
		if !strings.HasPrefix(out.String(), e.connect.PortalURL(project)+"?") {
			t.Errorf("without a usable state the outcome goes to the portal, got %s", out)
		}
		if n := len(e.cs.tokenCalls("")); n != before {
			t.Fatalf("a tampered state reached the token endpoint (%d calls, want %d)", n, before)
		}
		if e.stored(t, u) != nil {
			t.Fatal("a tampered state saved a connection")
		}

		// The genuine callback still completes: the tampered one consumed
		// neither the pending state nor the binding cookie.
		resp, _ = get(t, b.follow, cb.String())
		wantOutcome(t, location(t, resp, http.StatusSeeOther), connect.StatusConnected, "")
		if e.stored(t, u) == nil {
			t.Fatal("no connection after the genuine callback")
		}

		// And replaying it changes nothing at fosite.
		before = len(e.cs.tokenCalls(""))
		resp, _ = get(t, b.follow, cb.String())
		wantOutcome(t, location(t, resp, http.StatusSeeOther), connect.StatusError, connect.ErrorStateInvalid)
		if n := len(e.cs.tokenCalls("")); n != before {
			t.Fatal("a replayed callback reached the token endpoint")
		}
	})

	t.Run("other browser", func(t *testing.T) {
		const u = "user-link"
		b := newBrowser(t, e.redirect)
		cb := e.authorize(t, b, e.start(t, b, u))
		before := len(e.cs.tokenCalls(""))
		resp, _ := get(t, newBrowser(t, e.redirect).follow, cb.String())
		wantOutcome(t, location(t, resp, http.StatusSeeOther), connect.StatusError, connect.ErrorStateInvalid)
		if n := len(e.cs.tokenCalls("")); n != before || e.stored(t, u) != nil {
			t.Fatal("a callback without the binding cookie reached the token endpoint or saved a connection")
		}
	})

	t.Run("wrong verifier", func(t *testing.T) {
		// The state store hands the callback another verifier: fosite
		// refuses the exchange, nothing is saved.
		b := newBrowser(t, e.redirect)
		authURL := e.start(t, b, wrongVerifierUser)
		resp, _ := get(t, b.follow, authURL)
		wantOutcome(t, location(t, resp, http.StatusSeeOther), connect.StatusError, connect.ErrorExchangeFailed)
		calls := e.cs.tokenCalls("authorization_code")
		ex := calls[len(calls)-1]
		challenge := e.cs.authorizations()[len(e.cs.authorizations())-1].Challenge
		if ex.Status != http.StatusBadRequest || ex.Error != "invalid_grant" || ex.Verifier == "" ||
			oauth2.S256ChallengeFromVerifier(ex.Verifier) == challenge {
			t.Fatalf("exchange with a wrong verifier: status %d error %q, want fosite's 400 invalid_grant", ex.Status, ex.Error)
		}
		if e.stored(t, wrongVerifierUser) != nil {
			t.Fatal("a refused exchange saved a connection")
		}
		if logs := e.logs.String(); !strings.Contains(logs, `token endpoint answered 400 \"invalid_grant\"`) || strings.Contains(logs, ex.Verifier) {
			t.Errorf("connect's log of the refused exchange: %s", logs)
		}
	})

	t.Run("fosite enforces S256", func(t *testing.T) {
		// The authorize endpoint refuses a request without a challenge or
		// with the plain method: the flow above succeeded under PKCE.
		b := newBrowser(t, e.redirect)
		au, _ := url.Parse(e.start(t, b, "user-pkce"))
		approved := len(e.cs.authorizations())
		for name, edit := range map[string]func(url.Values){
			"no challenge": func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") },
			"plain":        func(q url.Values) { q.Set("code_challenge_method", "plain") },
		} {
			q := au.Query()
			edit(q)
			u := *au
			u.RawQuery = q.Encode()
			cb := e.authorize(t, b, u.String())
			if cb.Query().Get("error") != "invalid_request" || cb.Query().Has("code") {
				t.Errorf("%s: fosite redirected to %s, want error=invalid_request", name, cb)
			}
		}
		if n := len(e.cs.authorizations()); n != approved {
			t.Errorf("fosite approved %d authorize requests without S256, want 0", n-approved)
		}
	})
}
