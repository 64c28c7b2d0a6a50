package integrations_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/integrations"
)

func idToken(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(b) + ".c2ln"
}

// TestIDTokenCaptureChecks: claims are captured only from an ID token for
// this client (aud, azp) that has not expired (OIDC Core 3.1.3.7).
func TestIDTokenCaptureChecks(t *testing.T) {
	in, err := integrations.New(integrations.Config{Type: "custom", Slug: "oidc", BaseURL: "https://api.oidc.example",
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2, ClientID: "cid", AuthURL: "https://id.oidc.example/a", TokenURL: "https://id.oidc.example/t"},
		Capture: []integrations.Capture{{Field: "email", From: integrations.CaptureIDToken, Path: "email"},
			{Field: "org", From: integrations.CaptureIDToken, Path: "org.id", Optional: true}}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	for _, tc := range []struct {
		name   string
		claims map[string]any
		raw    string
		want   string // "" : captured
	}{
		{name: "good", claims: map[string]any{"aud": "cid", "exp": exp, "email": "a@b.example", "org": map[string]any{"id": "o1"}}},
		{name: "aud array", claims: map[string]any{"aud": []string{"other", "cid"}, "azp": "cid", "exp": exp, "email": "a@b.example"}},
		{name: "another client", claims: map[string]any{"aud": "other", "exp": exp, "email": "a@b.example"}, want: integrations.CodeIDTokenInvalid},
		{name: "azp of another client", claims: map[string]any{"aud": []string{"cid", "x"}, "azp": "x", "exp": exp, "email": "a@b.example"}, want: integrations.CodeIDTokenInvalid},
		{name: "expired", claims: map[string]any{"aud": "cid", "exp": now.Add(-time.Minute).Unix(), "email": "a@b.example"}, want: integrations.CodeIDTokenInvalid},
		{name: "no exp", claims: map[string]any{"aud": "cid", "email": "a@b.example"}, want: integrations.CodeIDTokenInvalid},
		{name: "malformed", raw: "not-a-jwt", want: integrations.CodeIDTokenInvalid},
		{name: "claim missing", claims: map[string]any{"aud": "cid", "exp": exp}, want: integrations.CodeCaptureMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw
			if raw == "" {
				raw = idToken(tc.claims)
			}
			tok := (&oauth2.Token{AccessToken: "at"}).WithExtra(map[string]any{"id_token": raw})
			fields, err := in.TokenCaptures(tok, now)
			var ce *integrations.CaptureError
			switch {
			case tc.want == "" && (err != nil || fields["email"] != "a@b.example"):
				t.Fatalf("captured %v, %v", fields, err)
			case tc.want != "" && (!errors.As(err, &ce) || ce.Code != tc.want):
				t.Fatalf("got %v %v, want %s", fields, err, tc.want)
			}
		})
	}
	if in.Config().Capture[1].Optional {
		tok := (&oauth2.Token{}).WithExtra(map[string]any{"id_token": idToken(map[string]any{"aud": "cid", "exp": exp, "email": "e"})})
		if f, err := in.TokenCaptures(tok, now); err != nil || f["org"] != "" {
			t.Fatalf("optional claim: %v %v", f, err)
		}
	}
	// Callback captures read only the query; a missing required one fails.
	cb, _ := integrations.New(integrations.Config{Type: "custom", Slug: "cb", BaseURL: "https://api.cb.example/{realm}",
		Auth:    integrations.SchemeConfig{Type: integrations.AuthOAuth2, AuthURL: "https://id.cb.example/a", TokenURL: "https://id.cb.example/t"},
		Capture: []integrations.Capture{{Field: "realm", From: integrations.CaptureCallback, Path: "realmId"}}})
	if f, err := cb.CallbackCaptures(url.Values{"realmId": {"123"}}); err != nil || f["realm"] != "123" {
		t.Fatalf("callback capture %v %v", f, err)
	}
	var ce *integrations.CaptureError
	if _, err := cb.CallbackCaptures(url.Values{}); !errors.As(err, &ce) || ce.Code != integrations.CodeCaptureMissing || ce.Field != "realm" {
		t.Fatalf("missing realmId: %v", err)
	}
}
