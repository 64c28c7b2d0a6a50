package middleware_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// The whole chain: a provider (TaskLab, on loopback), one connected user, and
// a proxied call with that user's token.
func ExampleNew() {
	tl := onbehalftest.NewTaskLab("client", "secret")
	upstream := httptest.NewServer(tl)
	defer upstream.Close()
	base := onbehalftest.LocalhostURL(upstream.URL) + "/api" // the proxy refuses IP-literal hosts

	signer, _ := onbehalftest.NewSigner("k1")
	store := tokens.NewMemoryStore()
	access, refresh := tl.Issue(time.Hour)
	_ = store.Save(context.Background(), &tokens.Connection{Project: "acme", User: "u-1", Integration: "custom.tasklab",
		Credential: tokens.Credential{AccessToken: access, RefreshToken: refresh, Expiry: time.Now().Add(time.Hour)}})

	h, err := middleware.New(middleware.Config{
		Projects: []middleware.ProjectConfig{{ID: "acme", Keys: []middleware.KeyConfig{signer.KeyConfig()},
			Integrations: []integrations.Config{onbehalftest.TaskLabIntegration(base, "client", "secret")}}},
		Store: store,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	req, _ := http.NewRequest("GET", srv.URL+"/projects/acme/sdk/proxy/custom.tasklab/tasks/1", nil)
	req.Header.Set("Authorization", "Bearer "+signer.MustToken("acme", "u-1"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 {"output":{"id":1,"title":"Write the proxy","done":true}}
}

// Chain composes stages so that the first runs first.
func ExampleChain() {
	say := func(name string) middleware.Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Println(name)
				next.ServeHTTP(w, r)
			})
		}
	}
	h := middleware.Chain(say("auth"), say("resolve"), say("inject"))(http.NotFoundHandler())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	// Output:
	// auth
	// resolve
	// inject
}

// The Auth stage alone: it verifies the user token and puts the Principal in
// the request context.
func ExampleAuth_Handler() {
	signer, _ := onbehalftest.NewSigner("k1")
	auth, _ := middleware.NewAuth(middleware.AuthConfig{
		Projects: []middleware.ProjectConfig{{ID: "acme", Keys: []middleware.KeyConfig{signer.KeyConfig()}}},
	})
	defer auth.Close()
	h := auth.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := middleware.PrincipalFromContext(r.Context())
		fmt.Fprintf(w, "hello %s of %s", p.User, p.Project)
	}))

	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+signer.MustToken("acme", "u-1"))
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Body.String())

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, rec.Body.String())
	// Output:
	// 200 hello u-1 of acme
	// 401 {"message":"Missing user token: send Authorization: Bearer <token>.","code":"AUTH_TOKEN_MISSING","status":401}
}
