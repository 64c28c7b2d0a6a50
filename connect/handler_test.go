package connect_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestCredentials: API-key and basic entry, validated before saving.
func TestCredentials(t *testing.T) {
	var validated atomic.Int64
	e := newEnv(t, func(c *connect.Config) {
		c.Validate = func(_ context.Context, in *integrations.Integration, conn *tokens.Connection) error {
			validated.Add(1)
			if conn.Credential.APIKey == "sk_bad" || conn.Credential.Password == "wrong" {
				return errors.New("provider said 401 for sk_bad") // must not reach the caller
			}
			return nil
		}
	})
	cases := []struct {
		name, path string
		body       map[string]string
		status     int
		code       string
	}{
		{"rejected key", "/connect/stripe/credentials", map[string]string{"apiKey": "sk_bad"}, 400, "CONNECT_CREDENTIALS_REJECTED"},
		{"empty key", "/connect/stripe/credentials", map[string]string{"apiKey": " "}, 400, "BAD_REQUEST"},
		{"password for a key", "/connect/stripe/credentials", map[string]string{"username": "a", "password": "b"}, 400, "BAD_REQUEST"},
		{"oauth integration", "/connect/custom.tasklab/credentials", map[string]string{"apiKey": "k"}, 400, "CONNECT_UNSUPPORTED"},
		{"rejected password", "/connect/jira/credentials", map[string]string{"username": "me", "password": "wrong"}, 400, "CONNECT_CREDENTIALS_REJECTED"},
		{"good key", "/connect/stripe/credentials", map[string]string{"apiKey": "sk_good"}, 201, ""},
		{"good password", "/connect/jira/credentials", map[string]string{"username": "me", "password": "right"}, 201, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.call(t, http.MethodPost, "frank", tc.path, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.code != "" {
				b := errorBody(t, resp)
				if b.Code != tc.code || strings.Contains(b.Message, "sk_bad") || strings.Contains(b.Message, "401") {
					t.Fatalf("got %q %q, want code %q and no provider detail", b.Code, b.Message, tc.code)
				}
			}
		})
	}
	if validated.Load() != 4 {
		t.Errorf("Validate ran %d times, want 4", validated.Load())
	}
	conns, err := e.store.List(t.Context(), project, "frank")
	if err != nil || len(conns) != 2 {
		t.Fatalf("stored %d connections (%v), want 2", len(conns), err)
	}
	for _, c := range conns {
		if c.Integration == "stripe" && c.Credential.APIKey != "sk_good" || c.Integration == "jira" && c.Credential.Password != "right" {
			t.Errorf("stored %s: %v", c.Integration, c.Credential)
		}
	}
	// A second key updates the same connection.
	e.call(t, http.MethodPost, "frank", "/connect/stripe/credentials", map[string]string{"apiKey": "sk_new"})
	if conns2, _ := e.store.List(t.Context(), project, "frank"); len(conns2) != 2 {
		t.Errorf("a new key added a connection: %d", len(conns2))
	}
}

// TestDisconnectRevokes: a disconnect revokes the refresh token at TaskLab
// and deletes the connection.
func TestDisconnectRevokes(t *testing.T) {
	e := newEnv(t)
	wantOutcome(t, e.connectUser(t, "gina"), connect.StatusConnected, "")
	c := e.stored(t, "gina")
	if !e.tl.RefreshTokenLive(c.Credential.RefreshToken) {
		t.Fatal("refresh token not live after connect")
	}
	resp := e.call(t, http.MethodDelete, "gina", "/connect/custom.tasklab?credentialId="+c.ID, nil)
	if resp.StatusCode != 204 {
		t.Fatalf("disconnect: %d", resp.StatusCode)
	}
	if e.tl.Revocations() != 1 || e.tl.RefreshTokenLive(c.Credential.RefreshToken) {
		t.Fatalf("revocations %d, refresh token live %v", e.tl.Revocations(), e.tl.RefreshTokenLive(c.Credential.RefreshToken))
	}
	if e.stored(t, "gina") != nil {
		t.Fatal("connection still stored")
	}
	if b := errorBody(t, e.call(t, http.MethodDelete, "gina", "/connect/custom.tasklab", nil)); b.Code != "INTEGRATION_NOT_ENABLED" {
		t.Fatalf("second disconnect: %q", b.Code)
	}
	if b := errorBody(t, e.call(t, http.MethodDelete, "gina", "/connect/custom.tasklab?credentialId=nope", nil)); b.Code != "CREDENTIAL_NOT_FOUND" {
		t.Fatalf("unknown credential: %q", b.Code)
	}
	// Another user's connection cannot be named.
	wantOutcome(t, e.connectUser(t, "hank"), connect.StatusConnected, "")
	hank := e.stored(t, "hank")
	req := e.call(t, http.MethodDelete, "gina", "/connect/custom.tasklab?credentialId="+hank.ID, nil)
	if req.StatusCode != 404 || e.stored(t, "hank") == nil {
		t.Fatalf("gina deleted hank's connection: %d", req.StatusCode)
	}
}

// TestPortalPage: the page loads nothing from elsewhere, runs only with its
// nonce, and may be framed only by the project's return-URL origins.
func TestPortalPage(t *testing.T) {
	e := newEnv(t)
	resp := e.call(t, http.MethodGet, "", "/portal", nil)
	body, _ := io.ReadAll(resp.Body)
	page := string(body)
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("portal: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	m := regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9_-]{20,})'`).FindStringSubmatch(csp)
	if m == nil || !strings.Contains(page, `<script nonce="`+m[1]+`">`) || !strings.Contains(page, `<style nonce="`+m[1]+`">`) {
		t.Fatalf("CSP %q does not carry the page's nonce", csp)
	}
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "frame-ancestors 'self' https://app.example.com", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP lacks %q: %s", want, csp)
		}
	}
	if regexp.MustCompile(`(?i)(src|href)=["']?(https?:)?//`).MatchString(page) {
		t.Error("the page references another origin")
	}
	for _, want := range []string{`role="status"`, `aria-live="polite"`, "history.replaceState", "onbehalf:token", `"origins":["https://app.example.com"]`, ":focus-visible"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	resp2 := e.call(t, http.MethodGet, "", "/portal", nil)
	if resp2.Header.Get("Content-Security-Policy") == csp {
		t.Error("the nonce did not change between responses")
	}
	if r := e.call(t, http.MethodPost, "", "/portal", nil); r.StatusCode != 405 {
		t.Errorf("POST portal: %d", r.StatusCode)
	}
	if r := e.call(t, http.MethodGet, "u", "/connect/methods", nil); r.StatusCode != 200 {
		t.Errorf("methods: %d", r.StatusCode)
	}
}

// TestNewValidates: bad config is an error, never a panic.
func TestNewValidates(t *testing.T) {
	e := newEnv(t)
	reg, _ := integrations.NewStaticRegistry(nil)
	auth, err := middleware.NewAuth(middleware.AuthConfig{Projects: []middleware.ProjectConfig{{ID: "p", Keys: []middleware.KeyConfig{e.signer.KeyConfig()}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	ok := connect.Config{Registry: reg, Store: e.store, Auth: auth, PublicURL: "https://app.example.com/x"}
	bad := map[string]func(*connect.Config){
		"no registry":          func(c *connect.Config) { c.Registry = nil },
		"no store":             func(c *connect.Config) { c.Store = nil },
		"no auth":              func(c *connect.Config) { c.Auth = nil },
		"relative public URL":  func(c *connect.Config) { c.PublicURL = "/api" },
		"public URL query":     func(c *connect.Config) { c.PublicURL = "https://a.example.com/?x=1" },
		"wildcard return URL":  func(c *connect.Config) { c.ReturnURLs = map[string][]string{"p": {"https://*.example.com/"}} },
		"return URL query":     func(c *connect.Config) { c.ReturnURLs = map[string][]string{"p": {"https://a.example.com/?next="}} },
		"relative revocation":  func(c *connect.Config) { c.RevocationURLs = map[string]string{"x": "/revoke"} },
		"negative TTL":         func(c *connect.Config) { c.StateTTL = -1 },
		"return URL dot paths": func(c *connect.Config) { c.ReturnURLs = map[string][]string{"p": {"https://a.example.com/a/../b"}} },
	}
	for name, f := range bad {
		c := ok
		f(&c)
		if _, err := connect.New(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	h, err := connect.New(ok)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.RedirectURI("p"); got != "https://app.example.com/x/projects/p/sdk/connect/callback" {
		t.Errorf("redirect URI %q", got)
	}
}

// TestMemoryStateStoreSingleUse: of concurrent Takes of one state, one wins.
func TestMemoryStateStoreSingleUse(t *testing.T) {
	s := connect.NewMemoryStateStore()
	ctx := context.Background()
	for i := range 20 {
		if err := s.Put(ctx, fmt.Sprint("k", i), connect.State{User: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				if _, err := s.Take(ctx, fmt.Sprint("k", i)); err == nil {
					wins.Add(1)
				} else if !errors.Is(err, connect.ErrStateNotFound) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 20 {
		t.Fatalf("%d successful takes of 20 states", wins.Load())
	}
}
