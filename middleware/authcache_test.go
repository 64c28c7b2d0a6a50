package middleware_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/response"
)

func errCode(err error) response.Code {
	var re *response.Error
	if errors.As(err, &re) {
		return re.Code
	}
	return ""
}

// TestVerifiedCacheExpiry defends against a cached token outliving its exp:
// past exp the token is verified in full again, and refused.
func TestVerifiedCacheExpiry(t *testing.T) {
	s, _ := onbehalftest.NewSigner("k")
	t0 := time.Now().Truncate(time.Second)
	var clock atomic.Pointer[time.Time]
	clock.Store(&t0)
	a, err := middleware.NewAuth(middleware.AuthConfig{
		Projects:  []middleware.ProjectConfig{{ID: "p", Keys: []middleware.KeyConfig{s.KeyConfig()}}},
		ClockSkew: time.Second,
		Now:       func() time.Time { return *clock.Load() },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tok := s.MustToken("p", "u", onbehalftest.TokenOptions{IssuedAt: t0, TTL: time.Minute})
	for _, at := range []time.Duration{0, 30 * time.Second, 59 * time.Second} {
		now := t0.Add(at)
		clock.Store(&now)
		p, err := a.Verify(t.Context(), "p", tok)
		if err != nil || p.User != "u" || !p.ExpiresAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("at +%v: got %+v, %v", at, p, err)
		}
	}
	if n := a.CachedTokens(); n != 1 {
		t.Fatalf("got %d cached tokens, want 1", n)
	}
	past := t0.Add(time.Minute + 2*time.Second) // beyond exp and the 1s skew
	clock.Store(&past)
	if _, err := a.Verify(t.Context(), "p", tok); errCode(err) != response.CodeTokenExpired {
		t.Fatalf("past exp: got %v, want %s", err, response.CodeTokenExpired)
	}
}

// TestVerifiedCacheProject defends against a token verified for one project
// being accepted for another from the cache: a project that does not hold
// the signing key, and a project that holds it but is not the audience.
func TestVerifiedCacheProject(t *testing.T) {
	ka, _ := onbehalftest.NewSigner("a")
	kb, _ := onbehalftest.NewSigner("b")
	a, err := middleware.NewAuth(middleware.AuthConfig{Projects: []middleware.ProjectConfig{
		{ID: "A", Keys: []middleware.KeyConfig{ka.KeyConfig()}},
		{ID: "B", Keys: []middleware.KeyConfig{kb.KeyConfig()}},
		{ID: "C", Keys: []middleware.KeyConfig{ka.KeyConfig()}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	noAud := ka.MustToken("A", "u", onbehalftest.TokenOptions{Audience: "-"})
	withAud := ka.MustToken("A", "u")
	if _, err := a.Verify(t.Context(), "A", withAud); err != nil {
		t.Fatal(err)
	}
	if n := a.CachedTokens(); n != 1 {
		t.Fatalf("got %d cached tokens, want 1", n)
	}
	if _, err := a.Verify(t.Context(), "B", noAud); errCode(err) != response.CodeTokenInvalid {
		t.Fatalf("project B (other key): got %v, want %s", err, response.CodeTokenInvalid)
	}
	if _, err := a.Verify(t.Context(), "C", withAud); errCode(err) != response.CodeProjectMismatch {
		t.Fatalf("project C (same key, other audience): got %v, want %s", err, response.CodeProjectMismatch)
	}
	// A and C share the key: a token without aud cannot say which it was
	// minted for, and opens neither.
	for _, p := range []string{"A", "C"} {
		if _, err := a.Verify(t.Context(), p, noAud); errCode(err) != response.CodeProjectMismatch {
			t.Fatalf("project %s, no audience, shared key: got %v, want %s", p, err, response.CodeProjectMismatch)
		}
	}
}

// TestVerifiedCacheKeyChange defends against a token signed with a key the
// project's JWKS has since dropped (a revoked or leaked key) being served from
// the cache: a JWKS fetch that changes the keys flushes the cache.
func TestVerifiedCacheKeyChange(t *testing.T) {
	oldKey, _ := onbehalftest.NewSigner("old")
	newKey, _ := onbehalftest.NewSigner("new")
	var current atomic.Pointer[onbehalftest.Signer]
	current.Store(oldKey)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s := current.Load()
		k, _ := jwk.ParseKey([]byte(s.PublicKeyPEM()), jwk.WithPEM(true))
		_ = k.Set(jwk.KeyIDKey, map[*onbehalftest.Signer]string{oldKey: "old", newKey: "new"}[s])
		set := jwk.NewSet()
		_ = set.AddKey(k)
		_ = json.NewEncoder(w).Encode(set)
	}))
	defer jwks.Close()
	a, err := middleware.NewAuth(middleware.AuthConfig{Projects: []middleware.ProjectConfig{{ID: "q", JWKSURL: jwks.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	oldTok := oldKey.MustToken("q", "u")
	for range 2 {
		if _, err := a.Verify(t.Context(), "q", oldTok); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.CachedTokens(); n != 1 {
		t.Fatalf("got %d cached tokens, want 1", n)
	}
	// The JWKS rotates to the new key only; a token with the new kid makes
	// the ring refetch it.
	current.Store(newKey)
	if _, err := a.Verify(t.Context(), "q", newKey.MustToken("q", "u")); err != nil {
		t.Fatalf("new key: %v", err)
	}
	if _, err := a.Verify(t.Context(), "q", oldTok); errCode(err) != response.CodeTokenInvalid {
		t.Fatalf("token of the dropped key: got %v, want %s", err, response.CodeTokenInvalid)
	}
}

// TestVerifiedCacheBounded: the cache never holds more than CacheSize
// tokens, and a negative size disables it.
func TestVerifiedCacheBounded(t *testing.T) {
	s, _ := onbehalftest.NewSigner("k")
	for _, size := range []int{4, -1} {
		a, err := middleware.NewAuth(middleware.AuthConfig{
			Projects: []middleware.ProjectConfig{{ID: "p", Keys: []middleware.KeyConfig{s.KeyConfig()}}}, CacheSize: size})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if _, err := a.Verify(t.Context(), "p", s.MustToken("p", fmt.Sprint("u", i))); err != nil {
				t.Fatal(err)
			}
		}
		if n := a.CachedTokens(); n > max(size, 0) {
			t.Errorf("size %d: got %d cached tokens", size, n)
		}
		a.Close()
	}
}
