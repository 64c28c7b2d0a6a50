package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// secretStore is a store that can fail with an error text holding its DSN's password.
type secretStore struct {
	tokens.Store
	mu   sync.Mutex
	down bool
}

func (s *secretStore) isDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

func (s *secretStore) setDown(v bool) {
	s.mu.Lock()
	s.down = v
	s.mu.Unlock()
}

var errStoreDSN = errors.New("dial postgres://app:STORE-PASSWORD-77@10.0.0.5/db: connection refused")

func (s *secretStore) Get(ctx context.Context, k tokens.Key) (*tokens.Connection, error) {
	if s.isDown() {
		return nil, errStoreDSN
	}
	return s.Store.Get(ctx, k)
}

// TestSecurityNoSecretInLogsOrErrors defends against credentials leaking
// through diagnostics: it runs every failure it can reach (bad, expired and
// tampered user tokens, refused hosts, a failing store, refresh failures
// whose token endpoint echoes the refresh token and client secret, upstream
// errors, timeouts, an aborted raw stream, an unreachable provider) and some
// successes, captures every log line (the proxy's ErrorLog, the log
// package's standard logger, slog's default, the refresh hooks formatting
// their errors with %v) and every response body and header, and finds none
// of the secrets in any of it.
func TestSecurityNoSecretInLogsOrErrors(t *testing.T) {
	var logs onbehalftest.LogBuffer
	oldSlog, oldOut, oldFlags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log.SetOutput(&logs)
	t.Cleanup(func() { slog.SetDefault(oldSlog); log.SetOutput(oldOut); log.SetFlags(oldFlags) })

	const (
		rtEcho, rtGrant     = "RT-ECHO-SECRET-1", "RT-GRANT-SECRET-2"
		csEcho, csGrant     = "CS-ECHO-SECRET-1", "CS-GRANT-SECRET-2"
		atEcho, atOK        = "AT-ECHO-SECRET-1", "AT-OK-SECRET-4"
		keyQuery, keyHeader = "KEY-QUERY-SECRET", "KEY-HEADER-SECRET"
		keyDown, basicPass  = "KEY-DOWN-SECRET", "BASIC-PASS-SECRET"
	)
	// A token endpoint that repeats everything it was sent, in every field it has.
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		user, pass, _ := r.BasicAuth()
		echo := fmt.Sprintf("refresh_token=%s client=%s:%s form_secret=%s", r.Form.Get("refresh_token"), user, pass, r.Form.Get("client_secret"))
		w.Header().Set("X-Echo", echo)
		switch r.URL.Path {
		case "/echo500":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(500)
			_, _ = io.WriteString(w, echo)
		case "/grant":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			_, _ = fmt.Fprintf(w, `{"error":"invalid_grant","error_description":%q,"error_uri":"https://x/%s"}`, echo, r.Form.Get("refresh_token"))
		}
	}))
	defer tokenSrv.Close()

	rec := newRecorder(t)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	downBase := "http://localhost:" + strings.TrimPrefix(closed.Addr().String(), "127.0.0.1:")
	closed.Close()
	oauth := func(typ, path, secret string) integrations.Config {
		return localIntegration(rec, typ, integrations.SchemeConfig{Type: integrations.AuthOAuth2,
			TokenURL: tokenSrv.URL + path, ClientID: "client-" + typ, ClientSecret: secret})
	}
	down := integrations.Config{Type: "down", BaseURL: downBase, AllowedSchemes: []string{"http"},
		AllowAddresses: []string{"127.0.0.0/8", "::1/128"}, Auth: integrations.SchemeConfig{Type: integrations.AuthAPIKey}}
	var store *secretStore
	e := envWith(t, []integrations.Config{
		oauth("oauthecho", "/echo500", csEcho), oauth("oauthgrant", "/grant", csGrant),
		oauth("oauthok", "/echo500", csEcho),
		localIntegration(rec, "keyquery", integrations.SchemeConfig{Type: integrations.AuthAPIKey, In: "query", Name: "api_key"}),
		localIntegration(rec, "keyheader", integrations.SchemeConfig{Type: integrations.AuthAPIKey, Name: "X-Api-Key"}),
		localIntegration(rec, "basic", integrations.SchemeConfig{Type: integrations.AuthBasic}),
		down,
	}, func(c *middleware.Config) {
		store = &secretStore{Store: c.Store}
		c.Store = store
		rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store,
			OnRefresh:       func(ev tokens.RefreshEvent) { fmt.Fprintf(&logs, "refreshed %+v\n", ev) },
			OnRefreshFailed: func(ev tokens.RefreshEvent, err error) { fmt.Fprintf(&logs, "refresh failed %+v: %v\n", ev, err) }})
		if err != nil {
			t.Fatal(err)
		}
		c.Refresher = rf
		c.Forwarder.ErrorLog = log.New(&logs, "proxy: ", 0)
		c.Forwarder.Timeout = 300 * time.Millisecond
	})
	expired := time.Now().Add(-time.Hour)
	connect(t, e, "oauthecho", tokens.Credential{AccessToken: atEcho, RefreshToken: rtEcho, Expiry: expired}, nil)
	connect(t, e, "oauthgrant", tokens.Credential{AccessToken: "AT-GRANT-SECRET", RefreshToken: rtGrant, Expiry: expired}, nil)
	connect(t, e, "oauthok", tokens.Credential{AccessToken: atOK, RefreshToken: "RT-OK-SECRET", Expiry: time.Now().Add(time.Hour)}, nil)
	connect(t, e, "keyquery", tokens.Credential{APIKey: keyQuery}, nil)
	connect(t, e, "keyheader", tokens.Credential{APIKey: keyHeader}, nil)
	connect(t, e, "basic", tokens.Credential{Username: "ann", Password: basicPass}, nil)
	connect(t, e, "down", tokens.Credential{APIKey: keyDown}, nil)

	userToken := e.Token()
	expiredToken := e.Token(onbehalftest.TokenOptions{IssuedAt: time.Now().Add(-3 * time.Hour)})
	tampered := userToken[:len(userToken)-4] + "AAAA"
	otherUser := e.Signer.MustToken(e.Project, "user-without-connections")
	secrets := []string{userToken, expiredToken, tampered, otherUser, rtEcho, rtGrant, csEcho, csGrant,
		atEcho, atOK, "AT-GRANT-SECRET", "RT-OK-SECRET", keyQuery, keyHeader, keyDown, basicPass,
		"STORE-PASSWORD-77", e.TaskLab.ClientSecret, e.Connection.Credential.AccessToken, e.Connection.Credential.RefreshToken}
	// The middle of each JWT (its claims) must not appear either.
	for _, tok := range []string{userToken, expiredToken} {
		secrets = append(secrets, strings.Split(tok, ".")[1])
	}

	type step struct {
		name, integration, path string
		token                   string
		header                  http.Header
		reply                   http.HandlerFunc
		storeDown               bool
	}
	stall := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}
	abort := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	fail500 := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(500)
		_, _ = io.WriteString(w, `{"error":"internal"}`)
	}
	raw := http.Header{response.RawHeader: {"1"}}
	steps := []step{
		{name: "success json", integration: "oauthok", path: "x"},
		{name: "success raw", integration: "keyheader", path: "x", header: raw},
		{name: "success query key", integration: "keyquery", path: "x?a=1"},
		{name: "no token", integration: "keyheader", path: "x", token: "-"},
		{name: "tampered token", integration: "keyheader", path: "x", token: tampered},
		{name: "expired token", integration: "keyheader", path: "x", token: expiredToken},
		{name: "garbage token", integration: "keyheader", path: "x", token: "not." + keyHeader + ".jwt"},
		{name: "other project", integration: "keyheader", path: "x", token: e.Signer.MustToken("proj-x", e.User)},
		{name: "not connected", integration: "keyheader", path: "x", token: otherUser},
		{name: "refused host", integration: "keyheader", path: "https://evil.example.com/x"},
		{name: "ip literal", integration: "keyquery", path: "http://169.254.169.254/latest"},
		{name: "path escape", integration: "basic", path: "%2e%2e/admin"},
		{name: "store down", integration: "keyheader", path: "x", storeDown: true},
		{name: "refresh 500 echoing secrets", integration: "oauthecho", path: "x"},
		{name: "refresh cooldown", integration: "oauthecho", path: "x"},
		{name: "refresh invalid_grant echoing secrets", integration: "oauthgrant", path: "x"},
		{name: "upstream 500", integration: "basic", path: "x", reply: fail500},
		{name: "upstream 500 raw", integration: "keyquery", path: "x", header: raw, reply: fail500},
		{name: "upstream 401 with refresh", integration: "oauthok", path: "x", reply: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(401) }},
		{name: "upstream timeout", integration: "keyquery", path: "x?b=2", reply: stall},
		{name: "raw stream aborted", integration: "keyquery", path: "x", header: raw, reply: abort},
		{name: "provider unreachable", integration: "down", path: "x"},
	}
	var seen strings.Builder
	for _, s := range steps {
		if s.reply != nil {
			rec.setReply(s.reply)
		} else {
			rec.setReply(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"ok":true}`)
			})
		}
		store.setDown(s.storeDown)
		req, _ := http.NewRequest("GET", e.ProxyURL(s.integration, s.path), nil)
		for k, v := range s.header {
			req.Header[k] = v
		}
		switch s.token {
		case "":
			req.Header.Set("Authorization", "Bearer "+userToken)
		case "-":
		default:
			req.Header.Set("Authorization", "Bearer "+s.token)
		}
		resp, err := http.DefaultClient.Do(req)
		store.setDown(false)
		if err != nil {
			fmt.Fprintf(&seen, "%s: client error %v\n", s.name, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(&seen, "%s: %d %v %s\n", s.name, resp.StatusCode, resp.Header, body)
	}
	e.Server.Close() // flush the server's own log lines
	all := seen.String() + "\n" + logs.String()
	for _, secret := range secrets {
		if strings.Contains(all, secret) {
			i := strings.Index(all, secret)
			t.Errorf("secret %q leaked: ...%s...", secret, all[max(0, i-200):min(len(all), i+len(secret)+50)])
		}
	}
	if testing.Verbose() {
		fmt.Fprintln(os.Stderr, all)
	}
	// The scenarios did reach their failure paths.
	for _, want := range []string{"STORE_UNAVAILABLE", "REFRESH_FAILED", "REFRESH_COOLDOWN", "CONNECTION_REAUTH_REQUIRED",
		"HOST_NOT_ALLOWED", "HOST_IP_LITERAL", "PATH_INVALID", "AUTH_TOKEN_EXPIRED", "AUTH_TOKEN_INVALID", "UPSTREAM_TIMEOUT",
		"UPSTREAM_UNREACHABLE", "INTEGRATION_ERROR", "INTEGRATION_NOT_ENABLED", "refresh failed"} {
		if !strings.Contains(all, want) {
			t.Errorf("no scenario produced %s", want)
		}
	}
}

// TestSecurityRefreshErrorCodeNotLogged defends against a token endpoint that
// reflects what it was sent into the "error" field of its answer: the refresh
// token then looks like an RFC 6749 error code, and the refresh error (which
// OnRefreshFailed may log, and which response.Error's text carries as its
// cause) must still not repeat it.
func TestSecurityRefreshErrorCodeNotLogged(t *testing.T) {
	const rt = "RT-CODE-SECRET-3"
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		_, _ = fmt.Fprintf(w, `{"error":%q}`, r.Form.Get("refresh_token"))
	}))
	defer tokenSrv.Close()
	rec := newRecorder(t)
	var logs onbehalftest.LogBuffer
	e := envWith(t, []integrations.Config{localIntegration(rec, "oauthcode", integrations.SchemeConfig{Type: integrations.AuthOAuth2,
		TokenURL: tokenSrv.URL + "/token", ClientID: "c", ClientSecret: "s"})}, func(c *middleware.Config) {
		rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: c.Store,
			OnRefreshFailed: func(ev tokens.RefreshEvent, err error) { fmt.Fprintf(&logs, "refresh failed %+v: %v\n", ev, err) }})
		if err != nil {
			t.Fatal(err)
		}
		c.Refresher = rf
	})
	connect(t, e, "oauthcode", tokens.Credential{AccessToken: "at", RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}, nil)
	resp := e.Do(t, "GET", e.ProxyURL("oauthcode", "x"), nil, nil)
	body := readBody(t, resp)
	if resp.StatusCode != 502 || strings.Contains(string(body), rt) {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "refresh failed") {
		t.Fatal("OnRefreshFailed was not called")
	}
	if strings.Contains(logs.String(), rt) {
		t.Fatalf("the refresh token reached the log: %s", logs.String())
	}
}
