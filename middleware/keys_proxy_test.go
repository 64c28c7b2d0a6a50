package middleware

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/onbehalf/onbehalf/internal/envproxytest"
)

// jwksProxyChildEnv marks the child process of TestJWKSIgnoresEnvProxy.
const jwksProxyChildEnv = "ONBEHALF_JWKS_PROXY_CHILD"

// TestJWKSIgnoresEnvProxy defends against the JWKS fetch, which decides
// which user tokens are accepted, going to whatever proxy HTTP_PROXY or
// HTTPS_PROXY names in the process environment: that proxy could read it or
// answer with keys of its own.
//
// net/http reads those variables once per process, so the fetch runs in a
// child process started with both set to a listener of this process, which
// records every connection. The JWKS server is reached as jwks.test:
// net/http never proxies localhost or loopback addresses.
func TestJWKSIgnoresEnvProxy(t *testing.T) {
	if envproxytest.InChild(jwksProxyChildEnv) {
		jwksProxyChild(t)
		return
	}
	envproxytest.Run(t, jwksProxyChildEnv, "TestJWKSIgnoresEnvProxy")
}

func jwksProxyChild(t *testing.T) {
	if os.Getenv("HTTPS_PROXY") == "" || os.Getenv("HTTP_PROXY") == "" {
		t.Fatal("child started without HTTP_PROXY and HTTPS_PROXY")
	}
	var calls atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"keys":[]}`))
	})
	plain := httptest.NewServer(handler)
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewTLSServer(handler)
	t.Cleanup(tlsSrv.Close)

	// http.DefaultTransport as shipped (Proxy: http.ProxyFromEnvironment),
	// plus a resolver for jwks.test and trust in the test certificate; the
	// JWKS transport is a clone of it taken on first use, below.
	base := http.DefaultTransport.(*http.Transport).Clone()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil && host == "jwks.test" {
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

	for _, srv := range []*httptest.Server{plain, tlsSrv} {
		u, _ := url.Parse(srv.URL + "/jwks.json")
		u.Host = net.JoinHostPort("jwks.test", u.Port())
		for _, tt := range []struct {
			name   string
			client *http.Client
		}{
			{"NewAuth's default client", &http.Client{Timeout: 10 * time.Second}},
			{"nil client", nil},
		} {
			t.Run(u.Scheme+" "+tt.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				cache := jwk.NewCache(ctx)
				if _, err := newKeyRing(nil, u.String(), cache, tt.client, nil); err != nil {
					t.Fatal(err)
				}
				before := calls.Load()
				if _, err := cache.Refresh(ctx, u.String()); err != nil {
					t.Fatal(err)
				}
				if calls.Load() == before {
					t.Fatal("the JWKS server got no request")
				}
			})
		}
	}
}

// TestJWKSClient checks the transport itself: Proxy nil, and a caller's own
// Transport kept as given.
func TestJWKSClient(t *testing.T) {
	user := &http.Client{Timeout: time.Second}
	d := jwksClient(user)
	tr, ok := d.Transport.(*http.Transport)
	if !ok || tr.Proxy != nil || tr == http.DefaultTransport {
		t.Fatalf("transport: %T, want a clone of http.DefaultTransport with Proxy nil", d.Transport)
	}
	if d == user || user.Transport != nil || d.Timeout != time.Second {
		t.Fatal("jwksClient modified the caller's client or dropped its Timeout")
	}
	own := &http.Client{Transport: http.NewFileTransport(http.Dir("."))}
	if jwksClient(own) != own {
		t.Fatal("jwksClient replaced a client's own Transport")
	}
}
