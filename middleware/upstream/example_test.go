package upstream_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware/upstream"
	"github.com/onbehalf/onbehalf/tokens"
)

// The Forwarder used alone: the request's State names the integration, the
// connection and the checked target; the credential goes onto the outbound
// copy and the provider's JSON comes back in the envelope, with the
// credential redacted wherever the provider echoed it.
func ExampleForwarder() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"auth":%q}`, r.URL.Path, r.Header.Get("Authorization"))
	}))
	defer api.Close()
	base := strings.Replace(api.URL, "127.0.0.1", "localhost", 1)

	in, err := integrations.New(integrations.Config{Type: "custom", Slug: "tasks", BaseURL: base,
		AllowAddresses: []string{"127.0.0.0/8", "::1/128"}, // loopback is refused unless allowed
		Auth:           integrations.SchemeConfig{Type: integrations.AuthAPIKey, Prefix: "Token "}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fwd, err := upstream.New(upstream.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fwd.CloseIdleConnections()
	target, _ := in.BaseURL(nil)
	target.Path += "/tasks"
	st := &upstream.State{Integration: in, Target: target,
		Connection: &tokens.Connection{Credential: tokens.Credential{APIKey: "k-123"}}}

	r := httptest.NewRequest(http.MethodGet, "/anything", nil)
	r.Header.Set("Authorization", "Bearer the-user-token") // never forwarded
	rec := httptest.NewRecorder()
	fwd.ServeHTTP(rec, r.WithContext(upstream.WithState(r.Context(), st)))
	fmt.Println(rec.Code, rec.Body.String())
	// Output:
	// 200 {"output":{"path":"/tasks","auth":"Token [redacted]"}}
}
