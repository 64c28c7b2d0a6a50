package integrations_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestBasicFixedPassword: with auth.password a basic integration sends the
// connection's user name (the API key) with the fixed password (Freshdesk's
// "X", Greenhouse's empty one), never the connection's own password; its
// redaction secrets hold the key and the header value but not the fixed
// password; auth.password is refused on other schemes.
func TestBasicFixedPassword(t *testing.T) {
	for _, fixed := range []string{"X", ""} {
		in, err := integrations.New(integrations.Config{Type: "custom", Slug: "desk", BaseURL: "https://acme.desk.example/api/v2",
			Auth: integrations.SchemeConfig{Type: integrations.AuthBasic, Password: &fixed}})
		if err != nil {
			t.Fatal(err)
		}
		c := &tokens.Connection{Credential: tokens.Credential{Username: "key-123", Password: "ignored"}}
		h := http.Header{}
		if err := in.Apply(h, &url.URL{}, c); err != nil {
			t.Fatal(err)
		}
		want := base64.StdEncoding.EncodeToString([]byte("key-123:" + fixed))
		if h.Get("Authorization") != "Basic "+want {
			t.Fatalf("password %q: Authorization %q", fixed, h.Get("Authorization"))
		}
		secrets := in.Secrets(&tokens.Connection{Credential: tokens.Credential{Username: "key-123"}})
		if !slices.Contains(secrets, "key-123") || !slices.Contains(secrets, want) || (fixed != "" && slices.Contains(secrets, fixed)) {
			t.Fatalf("password %q: secrets %q", fixed, secrets)
		}
		if err := in.Apply(http.Header{}, &url.URL{}, &tokens.Connection{Credential: tokens.Credential{Password: "p"}}); err == nil {
			t.Fatalf("password %q: a connection without the key applied", fixed)
		}
	}
	x := "X"
	_, err := integrations.New(integrations.Config{Type: "custom", Slug: "desk", BaseURL: "https://acme.desk.example/api/v2",
		Auth: integrations.SchemeConfig{Type: integrations.AuthAPIKey, Password: &x}})
	if err == nil || !strings.Contains(err.Error(), "auth.password is only for auth.type basic") {
		t.Fatalf("auth.password on an api_key scheme: %v", err)
	}
}
