package tokens_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/tokens"
)

func TestPostTokenAnswers(t *testing.T) {
	cases := []struct {
		name, ctype, body string
		status            int
		paths             tokens.TokenPaths
		def               time.Duration
		check             func(t *testing.T, tok *oauth2.Token, err error)
	}{
		{name: "form answer", ctype: "application/x-www-form-urlencoded", body: "access_token=a1&token_type=bearer&scope=repo", status: 200,
			check: func(t *testing.T, tok *oauth2.Token, err error) {
				if err != nil || tok.AccessToken != "a1" || tok.TokenType != "bearer" || !tok.Expiry.IsZero() {
					t.Fatalf("%+v %v", tok, err)
				}
			}},
		{name: "expires_in as a string", ctype: "application/json", body: `{"access_token":"a","expires_in":"60"}`, status: 200,
			check: func(t *testing.T, tok *oauth2.Token, err error) {
				if err != nil || time.Until(tok.Expiry) < 50*time.Second || time.Until(tok.Expiry) > 61*time.Second {
					t.Fatalf("%+v %v", tok, err)
				}
			}},
		{name: "default lifetime", ctype: "application/json", body: `{"access_token":"a"}`, status: 200, def: time.Hour,
			check: func(t *testing.T, tok *oauth2.Token, err error) {
				if err != nil || time.Until(tok.Expiry) < 59*time.Minute {
					t.Fatalf("%+v %v", tok, err)
				}
			}},
		{name: "nested paths", ctype: "application/json", body: `{"authed_user":{"access_token":"u","refresh_token":"r","expires_in":30}}`, status: 200,
			paths: tokens.TokenPaths{AccessToken: "authed_user.access_token", RefreshToken: "authed_user.refresh_token", ExpiresIn: "authed_user.expires_in"},
			check: func(t *testing.T, tok *oauth2.Token, err error) {
				if err != nil || tok.AccessToken != "u" || tok.RefreshToken != "r" || tok.Expiry.IsZero() {
					t.Fatalf("%+v %v", tok, err)
				}
			}},
		{name: "expires_at as RFC 3339 wins over expires_in", ctype: "application/json",
			body: `{"access_token":"a","expires_in":60,"expires_at":"` + time.Now().Add(2*time.Hour).UTC().Format(time.RFC3339) + `"}`, status: 200,
			paths: tokens.TokenPaths{ExpiresAt: "expires_at"}, def: 30 * 24 * time.Hour,
			check: func(t *testing.T, tok *oauth2.Token, err error) {
				if d := time.Until(tok.Expiry); err != nil || d < 119*time.Minute || d > 121*time.Minute || tok.ExpiresIn < 7100 {
					t.Fatalf("%+v %v", tok, err)
				}
			}},
		{name: "expires_at as epoch seconds at a nested path", ctype: "application/json",
			body: `{"t":{"access_token":"a","exp":` + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + `}}`, status: 200,
			paths: tokens.TokenPaths{AccessToken: "t.access_token", ExpiresAt: "t.exp"},
			check: func(t *testing.T, tok *oauth2.Token, err error) {
				if d := time.Until(tok.Expiry); err != nil || d < 59*time.Minute || d > 61*time.Minute {
					t.Fatalf("%+v %v", tok, err)
				}
			}},
		{name: "expires_at in the past or unreadable falls back", ctype: "application/json",
			body: `{"access_token":"a","expires_in":60,"expires_at":"2001-01-01T00:00:00Z"}`, status: 200,
			paths: tokens.TokenPaths{ExpiresAt: "expires_at"},
			check: func(t *testing.T, tok *oauth2.Token, err error) {
				if d := time.Until(tok.Expiry); err != nil || d < 50*time.Second || d > 61*time.Second {
					t.Fatalf("%+v %v", tok, err)
				}
			}},
		{name: "expires_at unreadable falls back to the default lifetime", ctype: "application/json",
			body: `{"access_token":"a","expires_at":"tomorrow"}`, status: 200,
			paths: tokens.TokenPaths{ExpiresAt: "expires_at"}, def: time.Hour,
			check: func(t *testing.T, tok *oauth2.Token, err error) {
				if d := time.Until(tok.Expiry); err != nil || d < 59*time.Minute || d > 61*time.Minute {
					t.Fatalf("%+v %v", tok, err)
				}
			}},
		{name: "error in a 200 answer", ctype: "application/json", body: `{"ok":false,"error":"invalid_grant"}`, status: 200,
			check: func(t *testing.T, tok *oauth2.Token, err error) {
				var re *oauth2.RetrieveError
				if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
					t.Fatalf("%v", err)
				}
			}},
		{name: "no access token", ctype: "application/json", body: `{"token":"x"}`, status: 200,
			check: func(t *testing.T, tok *oauth2.Token, err error) {
				if !errors.Is(err, tokens.ErrNoAccessToken) {
					t.Fatalf("%v", err)
				}
			}},
		{name: "error status echoing the secret", ctype: "application/json", body: `{"error":"sekrit-rt"}`, status: 401,
			check: func(t *testing.T, tok *oauth2.Token, err error) {
				if err == nil || strings.Contains(tokens.DescribeError(err), "sekrit-rt") || !strings.Contains(tokens.DescribeError(err), "401") {
					t.Fatalf("%q", tokens.DescribeError(err))
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			tok, err := tokens.PostToken(context.Background(), srv.Client(), tokens.TokenRequest{URL: srv.URL,
				Params: map[string]string{"grant_type": "refresh_token", "refresh_token": "sekrit-rt"}, Paths: tc.paths, DefaultLifetime: tc.def})
			tc.check(t, tok, err)
		})
	}
}
