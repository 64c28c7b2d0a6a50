package echoadapter_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/middleware/echoadapter"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// Mount the handler under /api/integrations of an Echo app. Slack comes from
// the provider catalog; a fully-qualified URL to a host Slack does not use is
// refused before anything is sent.
func ExampleMount() {
	signer, _ := onbehalftest.NewSigner("k1")
	store := tokens.NewMemoryStore()
	_ = store.Save(context.Background(), &tokens.Connection{Project: "acme", User: "u1", Integration: "slack",
		Credential: tokens.Credential{AccessToken: "xoxb-1", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}})
	h, err := middleware.New(middleware.Config{
		Projects: []middleware.ProjectConfig{{ID: "acme", Keys: []middleware.KeyConfig{signer.KeyConfig()},
			Integrations: []integrations.Config{{Type: "slack",
				Auth: integrations.SchemeConfig{ClientID: "client-id", ClientSecret: "client-secret"}}}}},
		Store: store,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()

	e := echo.New()
	echoadapter.Mount(e.Group("/api/integrations"), h)
	srv := httptest.NewServer(e)
	defer srv.Close()

	req, _ := http.NewRequest("POST", srv.URL+"/api/integrations/projects/acme/sdk/proxy/slack/https://evil.example.com/chat.postMessage", nil)
	req.Header.Set("Authorization", "Bearer "+signer.MustToken("acme", "u1"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 403 {"message":"This domain is invalid for the current integration","code":"HOST_NOT_ALLOWED","status":403}
}
