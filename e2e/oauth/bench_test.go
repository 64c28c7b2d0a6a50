package oauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// BenchmarkValidToken is the cost of one request through the full handler on
// a connection whose credential needs nothing done, side by side:
//
//	api_key: an integration without a grant; the refresher is never asked
//	         (the core chain as it was before refresh coordination)
//	oauth2:  an OAuth2 integration whose access token is valid and cached;
//	         the Injector asks the Refresher, which must answer without a
//	         lock, a flight or store I/O
//
// Both read the connection through tokens.Cached over a MemoryStore and send
// it to the same loopback upstream. Compare oauth2 to api_key:
//
//	go test -run '^$' -bench ValidToken -benchmem -count 6
func BenchmarkValidToken(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"tasks":[{"id":1,"title":"benchmark"}]}`))
	}))
	b.Cleanup(up.Close)
	base := onbehalftest.LocalhostURL(up.URL)
	port, _ := strconv.Atoi(base[len("http://localhost:"):])

	for _, tc := range []struct {
		name string
		auth integrations.SchemeConfig
		cred tokens.Credential
	}{
		{"api_key", integrations.SchemeConfig{Type: integrations.AuthAPIKey, Prefix: "Bearer "},
			tokens.Credential{APIKey: "key-123"}},
		{"oauth2", integrations.SchemeConfig{Type: integrations.AuthOAuth2, TokenURL: base + "/oauth/token", ClientID: "cid", ClientSecret: "secret"},
			tokens.Credential{AccessToken: "at-123", RefreshToken: "rt-123", TokenType: "Bearer", Expiry: time.Now().Add(24 * time.Hour)}},
	} {
		h := benchHandler(b, base, port, tc.auth, tc.cred)
		path := "/projects/" + project + "/sdk/proxy/" + integration + "/tasks"
		b.Run(tc.name+"/serial", func(b *testing.B) {
			r, w := h.request(path), &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				h.ServeHTTP(w, r)
				if w.code != http.StatusOK {
					b.Fatalf("status %d, want 200", w.code)
				}
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r, w := h.request(path), &discardWriter{h: http.Header{}}
				for pb.Next() {
					w.reset()
					h.ServeHTTP(w, r)
					if w.code != http.StatusOK {
						b.Errorf("status %d, want 200", w.code)
						return
					}
				}
			})
		})
	}
}

type benchProxy struct {
	*middleware.Handler
	bearer string
}

func (h benchProxy) request(path string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("Authorization", h.bearer)
	return r
}

// benchHandler is the full handler over a cached store holding one
// connection with cred, for an integration authenticated by auth.
func benchHandler(b *testing.B, base string, port int, auth integrations.SchemeConfig, cred tokens.Credential) benchProxy {
	b.Helper()
	signer, err := onbehalftest.NewSigner("bench-key")
	if err != nil {
		b.Fatal(err)
	}
	mem := tokens.NewMemoryStore()
	if err := mem.Save(context.Background(), &tokens.Connection{Project: project, User: user, Integration: integration, Credential: cred}); err != nil {
		b.Fatal(err)
	}
	store, err := tokens.NewCached(mem, tokens.CachedConfig{TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	h, err := middleware.New(middleware.Config{
		Projects: []middleware.ProjectConfig{{ID: project, Keys: []middleware.KeyConfig{signer.KeyConfig()},
			Integrations: []integrations.Config{{
				Type: "custom", Slug: slug, BaseURL: base + "/api",
				AllowedSchemes: []string{"http"}, AllowedPorts: []int{port},
				AllowAddresses: []string{"127.0.0.0/8", "::1/128"}, Auth: auth,
			}}}},
		Store: store,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	return benchProxy{Handler: h, bearer: "Bearer " + signer.MustToken(project, user)}
}

// discardWriter is a ResponseWriter that keeps nothing, reused across iterations.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(p), nil
}

func (w *discardWriter) reset() { clear(w.h); w.code = 0 }
