package integrations_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// revocation is one request a revocation endpoint saw.
type revocation struct {
	method, host, path, ctype, auth, user, pass string
	basic                                       bool
	body                                        string
}

// TestRevokeStyles: Revoke calls the connection's expanded revocation
// endpoint in the configured style — RFC 7009 (a POSTed form with the
// refresh token, the client authenticated as auth.authStyle says) or bearer
// (the access token as "Authorization: Bearer", no body, revokeMethod) —
// and its error on a refusal holds no token, secret or URL.
func TestRevokeStyles(t *testing.T) {
	var mu sync.Mutex
	var got []revocation
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u, p, ok := r.BasicAuth()
		mu.Lock()
		got = append(got, revocation{r.Method, strings.Split(r.Host, ":")[0], r.URL.Path, r.Header.Get("Content-Type"),
			r.Header.Get("Authorization"), u, p, ok, string(b)})
		s := status
		mu.Unlock()
		w.WriteHeader(s)
	}))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	ctx, client := resolverCtx(t)
	conn := &tokens.Connection{Fields: map[string]string{"shop": "acme"},
		Credential: tokens.Credential{AccessToken: "at-secret", RefreshToken: "rt-secret"}}
	revoke := func(change func(*integrations.SchemeConfig)) revocation {
		t.Helper()
		cfg := tenantConfig(port)
		cfg.Auth.RevokeURL = "http://{shop}.shops.test:" + port + "/revoke"
		change(&cfg.Auth)
		in, err := integrations.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if err := in.Revoke(ctx, client, conn); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(got) != n+1 {
			t.Fatalf("%d revocation requests, want 1", len(got)-n)
		}
		return got[n]
	}

	r := revoke(func(*integrations.SchemeConfig) {})
	form, _ := url.ParseQuery(r.body)
	if r.method != http.MethodPost || r.host != "acme.shops.test" || r.path != "/revoke" || r.ctype != "application/x-www-form-urlencoded" ||
		form.Get("token") != "rt-secret" || form.Get("token_type_hint") != "refresh_token" ||
		!r.basic || r.user != "cid" || r.pass != "csecret" || form.Get("client_secret") != "" {
		t.Fatalf("RFC 7009 revocation: %+v", r)
	}
	r = revoke(func(a *integrations.SchemeConfig) { a.AuthStyle = "params" })
	form, _ = url.ParseQuery(r.body)
	if r.basic || form.Get("client_id") != "cid" || form.Get("client_secret") != "csecret" || form.Get("token") != "rt-secret" {
		t.Fatalf("RFC 7009 revocation with the client in the body: %+v", r)
	}
	r = revoke(func(a *integrations.SchemeConfig) { a.RevokeStyle = integrations.RevokeBearer })
	if r.method != http.MethodPost || r.auth != "Bearer at-secret" || r.body != "" || r.ctype != "" || r.host != "acme.shops.test" {
		t.Fatalf("bearer revocation: %+v", r)
	}
	r = revoke(func(a *integrations.SchemeConfig) {
		a.RevokeStyle, a.RevokeMethod = integrations.RevokeBearer, http.MethodDelete
	})
	if r.method != http.MethodDelete || r.auth != "Bearer at-secret" || r.body != "" {
		t.Fatalf("bearer DELETE revocation: %+v", r)
	}

	// A refusal is an error that names the status and nothing secret.
	mu.Lock()
	status = http.StatusBadRequest
	mu.Unlock()
	cfg := tenantConfig(port)
	cfg.Auth.RevokeURL = "http://{shop}.shops.test:" + port + "/revoke"
	in, err := integrations.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = in.Revoke(context.Background(), client, conn)
	if err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("a refused revocation: %v", err)
	}
	for _, secret := range []string{"at-secret", "rt-secret", "csecret", "shops.test"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("the error holds %q: %v", secret, err)
		}
	}

	// A transport failure is an error without the endpoint's URL (it names
	// the connection's tenant) and without the tokens.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	cport := closed.URL[strings.LastIndex(closed.URL, ":")+1:]
	dead := tenantConfig(cport)
	dead.Auth.RevokeURL = "http://{shop}.shops.test:" + cport + "/revoke"
	dead.Auth.RevokeStyle = integrations.RevokeBearer
	din, err := integrations.New(dead)
	if err != nil {
		t.Fatal(err)
	}
	err = din.Revoke(ctx, client, conn)
	if err == nil {
		t.Fatal("a revocation to a closed port succeeded")
	}
	for _, secret := range []string{"at-secret", "rt-secret", "acme", "/revoke"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("the error holds %q: %v", secret, err)
		}
	}

	// No revocation endpoint: nothing is sent.
	cfg.Auth.RevokeURL = ""
	if in, err = integrations.New(cfg); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := len(got)
	mu.Unlock()
	err = in.Revoke(ctx, client, conn)
	mu.Lock()
	defer mu.Unlock()
	if err != nil || len(got) != n {
		t.Fatalf("without a revokeUrl: %v, %d requests", err, len(got)-n)
	}
}
