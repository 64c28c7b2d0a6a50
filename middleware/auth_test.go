package middleware_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// sign builds a token from raw claims with the given key and alg, for cases
// the Signer will not produce.
func sign(t *testing.T, key any, alg jwa.SignatureAlgorithm, claims map[string]any, hdr map[string]any) string {
	t.Helper()
	tok := jwt.New()
	for k, v := range claims {
		if err := tok.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	h := jws.NewHeaders()
	for k, v := range hdr {
		_ = h.Set(k, v)
	}
	out, err := jwt.Sign(tok, jwt.WithKey(alg, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestAuth: the user token is verified before anything else happens. Each
// case names what it defends against.
func TestAuth(t *testing.T) {
	e := onbehalftest.NewEnv(t)
	other, _ := onbehalftest.NewSigner("test-key") // same kid, different key
	now := time.Now()
	valid := map[string]any{"sub": e.User, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	without := func(k string) map[string]any {
		m := map[string]any{}
		for kk, v := range valid {
			if kk != k {
				m[kk] = v
			}
		}
		return m
	}
	with := func(k string, v any) map[string]any {
		m := without(k)
		m[k] = v
		return m
	}
	signed := func(claims map[string]any) string {
		tok, err := e.Signer.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	hmacWithPub := func() string {
		// The classic confusion attack: HS256 keyed with the RSA public key's bytes.
		return sign(t, []byte(e.Signer.PublicKeyPEM()), jwa.HS256, valid, map[string]any{"kid": "test-key"})
	}
	noneTok := b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(`{"sub":"user-1","iat":1,"exp":9999999999}`) + "."
	cases := []struct {
		name   string
		auth   string
		status int
		code   string
	}{
		{"valid token", "Bearer " + e.Token(), 200, ""},
		{"scheme is case-insensitive", "bearer " + e.Token(), 200, ""},
		{"no header", "", 401, "AUTH_TOKEN_MISSING"},
		{"basic instead of bearer", "Basic dXNlcjpwYXNz", 401, "AUTH_TOKEN_MISSING"},
		{"two tokens joined by a browser", "Bearer " + e.Token() + ", Bearer " + e.Token(), 401, "AUTH_TOKEN_INVALID"},
		{"garbage", "Bearer not.a.jwt", 401, "AUTH_TOKEN_INVALID"},
		{"signed by another key", "Bearer " + other.MustToken(e.Project, e.User), 401, "AUTH_TOKEN_INVALID"},
		{"alg none", "Bearer " + noneTok, 401, "AUTH_TOKEN_INVALID"},
		{"HMAC with the public key", "Bearer " + hmacWithPub(), 401, "AUTH_TOKEN_INVALID"},
		{"expired", "Bearer " + e.Token(onbehalftest.TokenOptions{IssuedAt: now.Add(-2 * time.Hour)}), 401, "AUTH_TOKEN_EXPIRED"},
		{"issued in the future", "Bearer " + e.Token(onbehalftest.TokenOptions{IssuedAt: now.Add(time.Hour)}), 401, "AUTH_TOKEN_INVALID"},
		{"missing exp", "Bearer " + signed(without("exp")), 401, "AUTH_TOKEN_INVALID"},
		{"missing iat", "Bearer " + signed(without("iat")), 401, "AUTH_TOKEN_INVALID"},
		{"missing sub", "Bearer " + signed(without("sub")), 401, "AUTH_TOKEN_INVALID"},
		{"empty sub", "Bearer " + signed(with("sub", " ")), 401, "AUTH_TOKEN_INVALID"},
		{"no aud is accepted", "Bearer " + e.Token(onbehalftest.TokenOptions{Audience: "-"}), 200, ""},
		{"aud of another project", "Bearer " + e.Token(onbehalftest.TokenOptions{Audience: "useparagon.com/other"}), 403, "AUTH_PROJECT_MISMATCH"},
		{"permissions forbid proxy (array)", "Bearer " + e.Token(onbehalftest.TokenOptions{Claims: map[string]any{middleware.PermissionsClaim: []string{"connect"}}}), 403, "AUTH_PERMISSION_DENIED"},
		{"permissions forbid proxy (object)", "Bearer " + e.Token(onbehalftest.TokenOptions{Claims: map[string]any{middleware.PermissionsClaim: map[string]any{"proxy": false}}}), 403, "AUTH_PERMISSION_DENIED"},
		{"permissions grant proxy", "Bearer " + e.Token(onbehalftest.TokenOptions{Claims: map[string]any{middleware.PermissionsClaim: []string{"proxy"}}}), 200, ""},
		{"oversized token", "Bearer " + strings.Repeat("a", 9000), 401, "AUTH_TOKEN_INVALID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.TaskLab.APICalls()
			h := http.Header{}
			if tc.auth != "" {
				h.Set("Authorization", tc.auth)
			} else {
				h.Set("Authorization", "")
			}
			req, _ := http.NewRequest("GET", e.ProxyURL("custom.tasklab", "tasks"), nil)
			req.Header = h
			if tc.auth == "" {
				req.Header.Del("Authorization")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, readBody(t, resp))
			}
			if tc.code == "" {
				readBody(t, resp)
				return
			}
			b := errorBody(t, resp)
			if b.Code != tc.code {
				t.Fatalf("code %q, want %q", b.Code, tc.code)
			}
			if e.TaskLab.APICalls() != before {
				t.Fatal("a request with a bad token reached the provider")
			}
			if tc.auth != "" && strings.Contains(b.Message, strings.TrimPrefix(tc.auth, "Bearer ")) {
				t.Fatal("the error echoes the token")
			}
		})
	}
}

// TestProjectInPath: a token verified for project A cannot be used on project
// B's path, even when B accepts the same key.
func TestProjectInPath(t *testing.T) {
	e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{Configure: func(c *middleware.Config) {
		c.Projects = append(c.Projects, middleware.ProjectConfig{ID: "proj-b", Keys: c.Projects[0].Keys})
	}})
	tokA := e.Token()
	req, _ := http.NewRequest("GET", e.Server.URL+"/projects/proj-b/sdk/proxy/custom.tasklab/tasks", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if b := errorBody(t, resp); resp.StatusCode != 403 || b.Code != "AUTH_PROJECT_MISMATCH" {
		t.Fatalf("got %d %+v", resp.StatusCode, b)
	}
	req, _ = http.NewRequest("GET", e.Server.URL+"/projects/nope/sdk/proxy/custom.tasklab/tasks", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, _ = http.DefaultClient.Do(req)
	if b := errorBody(t, resp); resp.StatusCode != 404 || b.Code != "PROJECT_NOT_FOUND" {
		t.Fatalf("got %d %+v", resp.StatusCode, b)
	}
}

// TestKeySources: PEM, JWK and JWKS keys; several at once for rotation; an
// EC key accepted only with its own algorithm; a JWKS refetched on an unknown
// kid.
func TestKeySources(t *testing.T) {
	oldKey, _ := onbehalftest.NewSigner("old")
	newKey, _ := onbehalftest.NewSigner("new")
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecJWK, _ := jwk.FromRaw(ec)
	_ = ecJWK.Set(jwk.KeyIDKey, "ec")
	ecPub, _ := ecJWK.PublicKey()
	ecPubJSON, _ := json.Marshal(ecPub)

	// A JWKS that starts with only the old key and later also serves "rotated".
	rotated, _ := onbehalftest.NewSigner("rotated")
	var fetches atomic.Int64
	var serveRotated atomic.Bool
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		set := jwk.NewSet()
		for _, s := range []*onbehalftest.Signer{oldKey, rotated} {
			if s == rotated && !serveRotated.Load() {
				continue
			}
			k, _ := jwk.ParseKey([]byte(s.PublicKeyPEM()), jwk.WithPEM(true))
			_ = k.Set(jwk.KeyIDKey, map[*onbehalftest.Signer]string{oldKey: "old", rotated: "rotated"}[s])
			_ = set.AddKey(k)
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	defer jwks.Close()

	a, err := middleware.NewAuth(middleware.AuthConfig{Projects: []middleware.ProjectConfig{
		{ID: "p", Keys: []middleware.KeyConfig{oldKey.KeyConfig(), {JWK: newKey.PublicJWK(), KID: "new"}, {JWK: ecPubJSON}}},
		{ID: "q", JWKSURL: jwks.URL},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := t.Context()
	for _, s := range []*onbehalftest.Signer{oldKey, newKey} {
		if _, err := a.Verify(ctx, "p", s.MustToken("p", "u")); err != nil {
			t.Fatalf("key %v: %v", s, err)
		}
	}
	now := time.Now()
	claims := map[string]any{"sub": "u", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if _, err := a.Verify(ctx, "p", sign(t, ecJWK, jwa.ES256, claims, nil)); err != nil {
		t.Fatalf("ES256 with the EC key: %v", err)
	}
	if _, err := a.Verify(ctx, "p", sign(t, ecJWK, jwa.ES384, claims, nil)); err == nil {
		t.Fatal("ES384 accepted for a key that says ES256")
	}
	// JWKS: the old key verifies; a token with an unknown kid makes one refetch.
	if _, err := a.Verify(ctx, "q", oldKey.MustToken("q", "u")); err != nil {
		t.Fatalf("jwks: %v", err)
	}
	serveRotated.Store(true)
	before := fetches.Load()
	if _, err := a.Verify(ctx, "q", rotated.MustToken("q", "u")); err != nil {
		t.Fatalf("jwks rotated key: %v", err)
	}
	if fetches.Load() != before+1 {
		t.Fatalf("fetches %d → %d, want one refetch", before, fetches.Load())
	}
	// An unknown kid again within the refetch interval costs no fetch.
	stranger, _ := onbehalftest.NewSigner("stranger")
	before = fetches.Load()
	if _, err := a.Verify(ctx, "q", stranger.MustToken("q", "u")); err == nil {
		t.Fatal("unknown key accepted")
	}
	if fetches.Load() != before {
		t.Fatal("an unknown kid refetched the JWKS again at once")
	}
}

// TestKeyConfigErrors: bad keys are refused when the config loads.
func TestKeyConfigErrors(t *testing.T) {
	s, _ := onbehalftest.NewSigner("")
	cases := map[string]middleware.KeyConfig{
		"empty":             {},
		"both":              {PEM: s.PublicKeyPEM(), JWK: json.RawMessage(`{}`)},
		"not a key":         {PEM: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"},
		"symmetric":         {JWK: json.RawMessage(`{"kty":"oct","k":"c2VjcmV0"}`)},
		"alg does not fit":  {PEM: s.PublicKeyPEM(), Alg: "ES256"},
		"hmac alg with RSA": {PEM: s.PublicKeyPEM(), Alg: "HS256"},
	}
	for name, kc := range cases {
		if _, err := middleware.NewAuth(middleware.AuthConfig{Projects: []middleware.ProjectConfig{{ID: "p", Keys: []middleware.KeyConfig{kc}}}}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A private key PEM is accepted; only its public half is kept.
	if _, err := middleware.NewAuth(middleware.AuthConfig{Projects: []middleware.ProjectConfig{{ID: "p", Keys: []middleware.KeyConfig{{PEM: s.PrivateKeyPEM()}}}}}); err != nil {
		t.Errorf("private key PEM: %v", err)
	}
}

// TestMaxLifetime: a token living longer than the configured maximum is refused.
func TestMaxLifetime(t *testing.T) {
	e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{Configure: func(c *middleware.Config) { c.Auth.MaxLifetime = 2 * time.Hour }})
	resp := e.Do(t, "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, http.Header{"Authorization": {"Bearer " + e.Token(onbehalftest.TokenOptions{TTL: 48 * time.Hour})}})
	if b := errorBody(t, resp); resp.StatusCode != 401 || b.Code != "AUTH_TOKEN_INVALID" {
		t.Fatalf("got %d %+v", resp.StatusCode, b)
	}
}
