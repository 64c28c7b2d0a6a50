package tokens

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/internal/envproxytest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// proxyChildEnv marks the child process of TestTokenRequestsIgnoreEnvProxy.
const proxyChildEnv = "ONBEHALF_TOKENS_PROXY_CHILD"

// TestTokenRequestsIgnoreEnvProxy defends against token requests, which carry
// client secrets and refresh tokens, going to whatever proxy HTTP_PROXY or
// HTTPS_PROXY names in the process environment.
//
// net/http reads those variables once per process, and earlier tests have
// already made requests, so the requests run in a child process started with
// both set to a listener of this process, which records every connection. The
// token endpoints are reached as tokens.test: net/http never proxies
// localhost or loopback addresses, so a loopback target would pass whatever
// the transport's Proxy.
func TestTokenRequestsIgnoreEnvProxy(t *testing.T) {
	if envproxytest.InChild(proxyChildEnv) {
		proxyChild(t)
		return
	}
	envproxytest.Run(t, proxyChildEnv, "TestTokenRequestsIgnoreEnvProxy")
}

// proxyChild runs every way this package makes a token request, against
// endpoints named tokens.test, with HTTP_PROXY and HTTPS_PROXY set by the
// parent test.
func proxyChild(t *testing.T) {
	if os.Getenv("HTTPS_PROXY") == "" || os.Getenv("HTTP_PROXY") == "" {
		t.Fatal("child started without HTTP_PROXY and HTTPS_PROXY")
	}
	var calls atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		writeToken(w, "access-new", "refresh-new", time.Hour)
	})
	plain := httptest.NewServer(handler)
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewTLSServer(handler)
	t.Cleanup(tlsSrv.Close)

	// http.DefaultTransport as shipped (Proxy: http.ProxyFromEnvironment),
	// plus a resolver for tokens.test and trust in the test certificate. The
	// package's transport is a clone of it taken on first use, which is below.
	base := http.DefaultTransport.(*http.Transport).Clone()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil && host == "tokens.test" {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return dialer.DialContext(ctx, network, addr)
	}
	roots := x509.NewCertPool()
	roots.AddCert(tlsSrv.Certificate())
	base.TLSClientConfig.RootCAs = roots
	base.TLSClientConfig.ServerName = "example.com" // in httptest's certificate
	saved := http.DefaultTransport
	http.DefaultTransport = base
	t.Cleanup(func() { http.DefaultTransport = saved })

	named := func(srv *httptest.Server) string {
		u, _ := url.Parse(srv.URL)
		u.Host = net.JoinHostPort("tokens.test", u.Port())
		return u.String()
	}
	oauthConfig := func(tokenURL string) *oauth2.Config {
		return &oauth2.Config{ClientID: "client", ClientSecret: "client-secret",
			Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}}
	}
	refresh := func(t *testing.T, tokenURL string, client *http.Client) {
		store := NewMemoryStore()
		conn := &Connection{Project: "p", User: "u", Integration: "salesforce", ID: "c1",
			Credential: Credential{AccessToken: "access-0", RefreshToken: "refresh-0", Expiry: time.Now().Add(-time.Minute)}}
		if err := store.Save(context.Background(), conn); err != nil {
			t.Fatal(err)
		}
		r, err := NewRefresher(RefresherConfig{Store: store, HTTPClient: client, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Fresh(context.Background(), conn, RefreshTokenGrant{Config: oauthConfig(tokenURL)}, "")
		if err != nil {
			t.Fatal(err)
		}
		if got.Credential.AccessToken != "access-new" {
			t.Fatalf("got access token %q, want access-new", got.Credential.AccessToken)
		}
	}

	for _, srv := range []*httptest.Server{plain, tlsSrv} {
		tokenURL := named(srv)
		scheme, _, _ := strings.Cut(tokenURL, ":")
		for _, tt := range []struct {
			name string
			run  func(t *testing.T)
		}{
			{"Refresher default client", func(t *testing.T) { refresh(t, tokenURL, nil) }},
			{"Refresher client without Transport", func(t *testing.T) {
				refresh(t, tokenURL, &http.Client{Timeout: 5 * time.Second})
			}},
			{"RefreshTokenGrant without a client in ctx", func(t *testing.T) {
				c := &Connection{Credential: Credential{RefreshToken: "refresh-0"}}
				if _, err := (RefreshTokenGrant{Config: oauthConfig(tokenURL)}).Token(context.Background(), c); err != nil {
					t.Fatal(err)
				}
			}},
			{"ClientCredentialsGrant without a client in ctx", func(t *testing.T) {
				g := ClientCredentialsGrant{Config: &clientcredentials.Config{
					ClientID: "client", ClientSecret: "client-secret", TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}}
				if _, err := g.Token(context.Background(), &Connection{}); err != nil {
					t.Fatal(err)
				}
			}},
		} {
			t.Run(scheme+" "+tt.name, func(t *testing.T) {
				before := calls.Load()
				tt.run(t)
				if calls.Load() == before {
					t.Fatal("the token endpoint got no request")
				}
			})
		}
	}
}

// TestDirectClient checks the transport itself: Proxy nil, and a caller's
// own Transport kept as given.
func TestDirectClient(t *testing.T) {
	r, err := NewRefresher(RefresherConfig{Store: NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := r.client.Transport.(*http.Transport)
	if !ok || tr.Proxy != nil {
		t.Fatalf("default client's transport: %T (Proxy set: %v), want *http.Transport with Proxy nil", r.client.Transport, ok && tr.Proxy != nil)
	}
	if tr == http.DefaultTransport {
		t.Fatal("the default client uses http.DefaultTransport itself")
	}
	if r.client.Timeout != 30*time.Second {
		t.Fatalf("default client's Timeout: %v, want 30s", r.client.Timeout)
	}
	user := &http.Client{Timeout: time.Second}
	d := DirectClient(user)
	if d == user || user.Transport != nil || d.Timeout != time.Second {
		t.Fatal("directClient modified or kept a client without Transport")
	}
	own := &http.Client{Transport: &countingTransport{}}
	if DirectClient(own) != own {
		t.Fatal("directClient replaced a client's own Transport")
	}
}
