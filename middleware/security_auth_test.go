package middleware_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/cert"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// TestSecurityTokenAttacks extends TestAuth with the classic JWT attacks.
// The project has two keys (so a token without kid is tried against both),
// a fixed clock, 30 s skew and a 24 h maximum lifetime. Every refused token
// answers 401/403 JSON and the provider is never called; no key URL in a
// token header is ever fetched.
func TestSecurityTokenAttacks(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	second, _ := onbehalftest.NewSigner("second-key")
	otherProject, _ := onbehalftest.NewSigner("b-key")
	e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{Configure: func(c *middleware.Config) {
		c.Projects[0].Keys = append(c.Projects[0].Keys, second.KeyConfig())
		c.Projects = append(c.Projects, middleware.ProjectConfig{ID: "proj-b", Keys: []middleware.KeyConfig{otherProject.KeyConfig()}})
		c.Auth.Now = func() time.Time { return now }
		c.Auth.MaxLifetime = 24 * time.Hour
	}})
	var fetches atomic.Int64
	keyServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		http.Error(w, "not here", 404)
	}))
	defer keyServer.Close()

	realKey := privateJWK(t, e.Signer.PrivateKeyPEM(), "test-key")
	realNoKid := privateJWK(t, e.Signer.PrivateKeyPEM(), "") // jwx would replace a header kid with the key's own
	secondKey := privateJWK(t, second.PrivateKeyPEM(), "")
	attacker, _ := rsa.GenerateKey(rand.Reader, 2048)
	attackerJWK, _ := jwk.FromRaw(attacker)
	attackerPub, _ := attackerJWK.PublicKey()
	pubPEM := []byte(e.Signer.PublicKeyPEM())
	blk, _ := pem.Decode(pubPEM)
	pubDER := blk.Bytes

	claims := func(iat, exp time.Time, extra ...any) map[string]any {
		m := map[string]any{"sub": e.User, "iat": iat.Unix(), "exp": exp.Unix(), "aud": "useparagon.com/" + e.Project}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i].(string)] = extra[i+1]
		}
		return m
	}
	valid := claims(now, now.Add(time.Hour))
	unsigned := func(alg, sig string) string {
		c, _ := json.Marshal(valid)
		return b64(`{"alg":"`+alg+`","typ":"JWT","kid":"test-key"}`) + "." + base64.RawURLEncoding.EncodeToString(c) + "." + sig
	}
	selfSigned := func() *cert.Chain {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &attacker.PublicKey, attacker)
		if err != nil {
			t.Fatal(err)
		}
		var chain cert.Chain
		if err := chain.AddString(base64.StdEncoding.EncodeToString(der)); err != nil {
			t.Fatal(err)
		}
		return &chain
	}
	jsonJWS := func() string {
		c, _ := json.Marshal(valid)
		out, err := jws.Sign(c, jws.WithJSON(), jws.WithKey(jwa.RS256, realKey))
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	cases := []struct {
		name   string
		token  string
		header string // a header the token must carry, so the case is not vacuous
		status int
		code   string
	}{
		{"control: valid", sign(t, realKey, jwa.RS256, valid, nil), "", 200, ""},
		{"control: no kid, second key (rotation)", sign(t, secondKey, jwa.RS256, valid, nil), "", 200, ""},
		// alg "none" in any spelling: an unsigned token must never verify.
		{"alg None", unsigned("None", ""), "", 401, "AUTH_TOKEN_INVALID"},
		{"alg NONE", unsigned("NONE", ""), "", 401, "AUTH_TOKEN_INVALID"},
		{"alg none with a signature", unsigned("none", b64("sig")), "", 401, "AUTH_TOKEN_INVALID"},
		{"signature stripped", strings.Join(strings.Split(sign(t, realKey, jwa.RS256, valid, nil), ".")[:2], ".") + ".", "", 401, "AUTH_TOKEN_INVALID"},
		// Algorithm confusion: HMAC keyed with the public key in the forms an attacker can get.
		{"HS384 keyed with the public PEM", sign(t, pubPEM, jwa.HS384, valid, map[string]any{"kid": "test-key"}), "", 401, "AUTH_TOKEN_INVALID"},
		{"HS256 keyed with the public DER", sign(t, pubDER, jwa.HS256, valid, map[string]any{"kid": "test-key"}), "", 401, "AUTH_TOKEN_INVALID"},
		{"HS512 keyed with the public DER, no kid", sign(t, pubDER, jwa.HS512, valid, nil), "", 401, "AUTH_TOKEN_INVALID"},
		// Algorithm substitution within RSA: the key accepts RS256 only.
		{"PS256 with the real key", sign(t, realKey, jwa.PS256, valid, nil), "", 401, "AUTH_TOKEN_INVALID"},
		{"RS512 with the real key", sign(t, realKey, jwa.RS512, valid, nil), "", 401, "AUTH_TOKEN_INVALID"},
		// Keys named by the token itself are never trusted nor fetched.
		{"jku to the attacker's JWKS", sign(t, attackerJWK, jwa.RS256, valid, map[string]any{"jku": keyServer.URL + "/jwks.json", "kid": "test-key"}), "jku", 401, "AUTH_TOKEN_INVALID"},
		{"x5u to the attacker's certificate", sign(t, attackerJWK, jwa.RS256, valid, map[string]any{"x5u": keyServer.URL + "/cert.pem"}), "x5u", 401, "AUTH_TOKEN_INVALID"},
		{"embedded jwk of the attacker", sign(t, attackerJWK, jwa.RS256, valid, map[string]any{"jwk": attackerPub}), "jwk", 401, "AUTH_TOKEN_INVALID"},
		{"embedded x5c of the attacker", sign(t, attackerJWK, jwa.RS256, valid, map[string]any{"x5c": selfSigned()}), "x5c", 401, "AUTH_TOKEN_INVALID"},
		// kid: binds the token to one key; unknown or hostile values match nothing.
		{"unknown kid, real key", sign(t, realNoKid, jwa.RS256, valid, map[string]any{"kid": "nope"}), "", 401, "AUTH_TOKEN_INVALID"},
		{"kid of one key, signed by the other", sign(t, secondKey, jwa.RS256, valid, map[string]any{"kid": "test-key"}), "", 401, "AUTH_TOKEN_INVALID"},
		{"kid path traversal", sign(t, realNoKid, jwa.RS256, valid, map[string]any{"kid": "../../../../dev/null"}), "", 401, "AUTH_TOKEN_INVALID"},
		{"no kid, attacker key", sign(t, attackerJWK, jwa.RS256, valid, nil), "", 401, "AUTH_TOKEN_INVALID"},
		// Time claims against the fixed clock and the 30 s skew.
		{"exp 20s ago, within skew", sign(t, realKey, jwa.RS256, claims(now.Add(-time.Hour), now.Add(-20*time.Second)), nil), "", 200, ""},
		{"exp 40s ago, beyond skew", sign(t, realKey, jwa.RS256, claims(now.Add(-time.Hour), now.Add(-40*time.Second)), nil), "", 401, "AUTH_TOKEN_EXPIRED"},
		{"iat 20s ahead, within skew", sign(t, realKey, jwa.RS256, claims(now.Add(20*time.Second), now.Add(time.Hour)), nil), "", 200, ""},
		{"iat 40s ahead, beyond skew", sign(t, realKey, jwa.RS256, claims(now.Add(40*time.Second), now.Add(time.Hour)), nil), "", 401, "AUTH_TOKEN_INVALID"},
		{"nbf 40s ahead", sign(t, realKey, jwa.RS256, claims(now, now.Add(time.Hour), "nbf", now.Add(40*time.Second).Unix()), nil), "", 401, "AUTH_TOKEN_INVALID"},
		{"lifetime exactly the maximum", sign(t, realKey, jwa.RS256, claims(now, now.Add(24*time.Hour)), nil), "", 200, ""},
		{"lifetime over the maximum", sign(t, realKey, jwa.RS256, claims(now.Add(-time.Minute), now.Add(24*time.Hour)), nil), "", 401, "AUTH_TOKEN_INVALID"},
		{"exp in the year 9999", sign(t, realKey, jwa.RS256, claims(now, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)), nil), "", 401, "AUTH_TOKEN_INVALID"},
		// Another project's token: its key is not this project's key.
		{"signed by another project's key", otherProject.MustToken("proj-b", e.User), "", 401, "AUTH_TOKEN_INVALID"},
		{"another project's key claiming this project", sign(t, privateJWK(t, otherProject.PrivateKeyPEM(), "b-key"), jwa.RS256, valid, nil), "", 401, "AUTH_TOKEN_INVALID"},
		{"empty sub", sign(t, realKey, jwa.RS256, claims(now, now.Add(time.Hour), "sub", ""), nil), "", 401, "AUTH_TOKEN_INVALID"},
		// Other serializations: a JWE (5 parts) and the JWS JSON form are not user tokens.
		{"JWE compact, 5 parts", b64(`{"alg":"RSA-OAEP","enc":"A256GCM"}`) + "." + b64("k") + "." + b64("iv") + "." + b64("ct") + "." + b64("tag"), "", 401, "AUTH_TOKEN_INVALID"},
		{"JWS JSON serialization", jsonJWS(), "", 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.header != "" {
				hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tc.token, ".")[0])
				if !strings.Contains(string(hdr), `"`+tc.header+`"`) {
					t.Fatalf("the token lacks its %s header: %s", tc.header, hdr)
				}
			}
			before := e.TaskLab.APICalls()
			resp := e.Do(t, "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, http.Header{"Authorization": {"Bearer " + tc.token}})
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, readBody(t, resp))
			}
			if tc.status == 200 {
				readBody(t, resp)
				return
			}
			b := errorBody(t, resp)
			if tc.code != "" && b.Code != tc.code {
				t.Fatalf("code %q, want %q", b.Code, tc.code)
			}
			if e.TaskLab.APICalls() != before {
				t.Fatal("a refused token reached the provider")
			}
		})
	}
	if n := fetches.Load(); n != 0 {
		t.Fatalf("a key URL named in a token was fetched %d time(s)", n)
	}
}

// TestSecurityHugeToken defends against resource exhaustion through the
// token: a 1 MB bearer token is refused by size before any parsing (called on
// the handler directly, since a server's own header limit may answer first),
// and through a real server it never reaches the provider.
func TestSecurityHugeToken(t *testing.T) {
	e := onbehalftest.NewEnv(t)
	huge := strings.Repeat("A", 1<<20) + "." + strings.Repeat("B", 10) + "." + strings.Repeat("C", 10)
	req := httptest.NewRequest("GET", "/projects/"+e.Project+"/sdk/proxy/custom.tasklab/tasks", nil)
	req.Header.Set("Authorization", "Bearer "+huge)
	w := httptest.NewRecorder()
	start := time.Now()
	e.Handler.ServeHTTP(w, req)
	// The header limit (64 KiB by default) answers before the token is looked at.
	if w.Code != 431 || !strings.Contains(w.Body.String(), `"REQUEST_HEADERS_TOO_LARGE"`) {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusing a 1 MB token took %v", d)
	}
	// A token over MaxTokenBytes (8 KiB) but under the header limit is refused by size.
	big := strings.Repeat("A", 10<<10) + "." + strings.Repeat("B", 10) + "." + strings.Repeat("C", 10)
	req.Header.Set("Authorization", "Bearer "+big)
	w = httptest.NewRecorder()
	e.Handler.ServeHTTP(w, req)
	if w.Code != 401 || !strings.Contains(w.Body.String(), `"AUTH_TOKEN_INVALID"`) {
		t.Fatalf("10 KB token: got %d %s", w.Code, w.Body)
	}
	resp := e.Do(t, "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, http.Header{"Authorization": {"Bearer " + huge}})
	readBody(t, resp)
	if resp.StatusCode != 401 && resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("through the server: %d", resp.StatusCode)
	}
	if e.TaskLab.APICalls() != 0 {
		t.Fatal("the provider was called")
	}
}

// privateJWK parses a private key PEM into a signing jwk.Key with kid.
func privateJWK(t *testing.T, pemStr, kid string) jwk.Key {
	t.Helper()
	k, err := jwk.ParseKey([]byte(pemStr), jwk.WithPEM(true))
	if err != nil {
		t.Fatal(err)
	}
	if kid != "" {
		_ = k.Set(jwk.KeyIDKey, kid)
	}
	return k
}
