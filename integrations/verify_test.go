package integrations_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

func TestVerify(t *testing.T) {
	var gotPath, gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotAuth = r.URL.Path, r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/v1/acme/me":
			w.WriteHeader(http.StatusOK)
		case "/v1/acme/gone":
			w.WriteHeader(http.StatusNoContent)
		case "/v1/acme/graphql":
			b, _ := io.ReadAll(r.Body)
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || string(b) != `{"query":"{ viewer { id } }"}` {
				http.Error(w, "bad query", http.StatusBadRequest)
				return
			}
			io.WriteString(w, `{"data":{"viewer":{"id":"u1"}}}`)
		case "/v1/acme/auth.test":
			io.WriteString(w, `{"ok":false,"error":"token_revoked"}`)
		default:
			http.Error(w, "secret-key echoed", http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	build := func(v *integrations.Verification) *integrations.Integration {
		t.Helper()
		in, err := integrations.New(integrations.Config{Type: "custom", Slug: "v", BaseURL: srv.URL + "/v1/{team}",
			AllowAddresses: []string{"127.0.0.0/8"}, Auth: integrations.SchemeConfig{Type: integrations.AuthAPIKey, Prefix: "Key "}, Verify: v})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	conn := &tokens.Connection{Fields: map[string]string{"team": "acme"}, Credential: tokens.Credential{APIKey: "secret-key"}}
	ctx := context.Background()

	if err := build(&integrations.Verification{Path: "/me"}).Verify(ctx, srv.Client(), conn); err != nil {
		t.Fatalf("working connection: %v", err)
	}
	if gotPath != "/v1/acme/me" || gotAuth != "Key secret-key" {
		t.Fatalf("request went to %q with %q", gotPath, gotAuth)
	}
	err := build(&integrations.Verification{Path: "/broken"}).Verify(ctx, srv.Client(), conn)
	var ve *integrations.VerifyError
	if !errors.As(err, &ve) || ve.Status != http.StatusUnauthorized {
		t.Fatalf("401 answer: got %v", err)
	}
	if strings.Contains(err.Error(), "secret-key") {
		t.Fatalf("error carries the key: %v", err)
	}
	if err := build(&integrations.Verification{Path: "/gone", OK: []int{200}}).Verify(ctx, srv.Client(), conn); !errors.As(err, &ve) || ve.Status != 204 {
		t.Fatalf("204 outside ok [200]: got %v", err)
	}
	if err := build(&integrations.Verification{Method: "POST", Path: "/graphql", Body: `{"query":"{ viewer { id } }"}`, BodyContains: `"viewer":{"id"`}).Verify(ctx, srv.Client(), conn); err != nil {
		t.Fatalf("GraphQL verification: %v", err)
	}
	if err := build(&integrations.Verification{Path: "/auth.test", BodyContains: `"ok":true`}).Verify(ctx, srv.Client(), conn); !errors.As(err, &ve) || !ve.BodyMismatch || ve.Status != 200 {
		t.Fatalf("200 with ok:false: got %v", err)
	}
	if err := build(nil).Verify(ctx, srv.Client(), conn); !errors.Is(err, integrations.ErrNoVerification) {
		t.Fatalf("no verification: got %v", err)
	}
	for _, bad := range []integrations.Verification{{}, {Path: "/x", Method: "get"}, {Path: "/x", OK: []int{42}}, {Path: "/{x"}, {Path: "/x", Body: "{not json"}} {
		if _, err := integrations.New(integrations.Config{Type: "custom", Slug: "v", BaseURL: "https://api.example.com", Verify: &bad}); err == nil {
			t.Errorf("verify %+v accepted", bad)
		}
	}
}
