package tokens

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func TestRefreshTokenGrant(t *testing.T) {
	e := newTokenEndpoint(t)
	g := RefreshTokenGrant{Config: e.config()}
	c := &Connection{ID: "a", Credential: Credential{AccessToken: "access-0", RefreshToken: "refresh-0", Expiry: time.Now().Add(time.Hour)}}
	tok, err := g.Token(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "access-1" || tok.RefreshToken != "refresh-1" || time.Until(tok.Expiry) < 50*time.Minute {
		t.Fatalf("got access %q refresh %q expiry in %v", tok.AccessToken, tok.RefreshToken, time.Until(tok.Expiry))
	}
	if got := e.last(); got != "refresh-0" {
		t.Fatalf("token endpoint got refresh_token %q, want refresh-0 (even though the access token was still valid)", got)
	}
}

func TestRefreshTokenGrantWithoutRefreshToken(t *testing.T) {
	e := newTokenEndpoint(t)
	_, err := RefreshTokenGrant{Config: e.config()}.Token(context.Background(), &Connection{ID: "a"})
	if !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("got %v, want ErrReauthRequired", err)
	}
	if e.calls.Load() != 0 {
		t.Fatal("called the token endpoint without a refresh token")
	}
	if _, err := (RefreshTokenGrant{}).Token(context.Background(), &Connection{}); err == nil {
		t.Fatal("nil Config: no error")
	}
}

// countingTransport counts requests made through it.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestGrantUsesContextClient(t *testing.T) {
	e := newTokenEndpoint(t)
	rt := &countingTransport{}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: rt})
	if _, err := (RefreshTokenGrant{Config: e.config()}).Token(ctx, &Connection{Credential: Credential{RefreshToken: "refresh-0"}}); err != nil {
		t.Fatal(err)
	}
	if rt.n.Load() != 1 {
		t.Fatalf("requests through the context's client: %d, want 1", rt.n.Load())
	}
}

func TestClientCredentialsGrant(t *testing.T) {
	e := newTokenEndpoint(t)
	var grantType atomic.Value
	e.setAnswer(func(w http.ResponseWriter, r *http.Request, n int64) {
		grantType.Store(r.PostForm.Get("grant_type"))
		writeToken(w, "access-cc", "", time.Hour)
	})
	g := ClientCredentialsGrant{Config: &clientcredentials.Config{
		ClientID: "client", ClientSecret: "client-secret", TokenURL: e.URL, AuthStyle: oauth2.AuthStyleInHeader,
	}}
	tok, err := g.Token(context.Background(), &Connection{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "access-cc" || grantType.Load() != "client_credentials" {
		t.Fatalf("got %q with grant_type %v", tok.AccessToken, grantType.Load())
	}
	if _, err := (ClientCredentialsGrant{}).Token(context.Background(), &Connection{}); err == nil {
		t.Fatal("nil Config: no error")
	}
}
