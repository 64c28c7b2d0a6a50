package hosts_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/hosts"
)

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	accepts atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepts.Add(1)
	}
	return c, err
}

// newCountingServer starts a loopback server that counts accepted connections.
func newCountingServer(t *testing.T, tls bool) (*httptest.Server, *countingListener) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream")
	}))
	cl := &countingListener{Listener: srv.Listener}
	srv.Listener = cl
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, cl
}

func get(t *testing.T, tr *http.Transport, target string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestTransportGuardRefusesLoopback defends against SSRF to loopback services,
// including through a name (localhost) that resolves to loopback, as a
// rebinding name would: the connection is refused before connect, so the
// listener never accepts it.
func TestTransportGuardRefusesLoopback(t *testing.T) {
	srv, cl := newCountingServer(t, false)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	denying, err := hosts.NewTransport(hosts.TransportConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer denying.CloseIdleConnections()
	for _, target := range []string{srv.URL, "http://localhost:" + port + "/"} {
		if _, err := get(t, denying, target); !errors.Is(err, hosts.ErrAddressDenied) {
			t.Fatalf("GET %s through the default guard: %v, want ErrAddressDenied", target, err)
		}
	}

	guard, err := hosts.NewGuard(hosts.GuardConfig{Allow: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	allowing, err := hosts.NewTransport(hosts.TransportConfig{Guard: guard})
	if err != nil {
		t.Fatal(err)
	}
	defer allowing.CloseIdleConnections()
	body, err := get(t, allowing, srv.URL)
	if err != nil || body != "upstream" {
		t.Fatalf("GET through a guard allowing loopback: %q, %v", body, err)
	}
	// The denied dials would have been accepted before this one had they connected.
	if n := cl.accepts.Load(); n != 1 {
		t.Fatalf("listener accepted %d connections, want 1 (only the allowed one)", n)
	}
}

// TestTransportTLS checks that a caller's TLS config is used (test roots) and
// that HTTP/2 is negotiated with it.
func TestTransportTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	guard, err := hosts.NewGuard(hosts.GuardConfig{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	tr, err := hosts.NewTransport(hosts.TransportConfig{Guard: guard, TLSClientConfig: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	body, err := get(t, tr, srv.URL)
	if err != nil || body != "HTTP/2.0" {
		t.Fatalf("GET over TLS: %q, %v; want HTTP/2.0", body, err)
	}
	if tr.TLSClientConfig.MinVersion != tls.VersionTLS12 {
		t.Fatalf("MinVersion = %x, want TLS 1.2", tr.TLSClientConfig.MinVersion)
	}
	if !tr.DisableCompression || !tr.ForceAttemptHTTP2 {
		t.Fatal("want DisableCompression and ForceAttemptHTTP2")
	}
}

// TestTransportIgnoresEnvProxy defends against an environment proxy carrying
// credentials to a third party, or around the guard: HTTP_PROXY must be
// ignored. The target's name does not resolve; with the environment proxy
// honored, the request would go to the proxy (on allowed loopback) instead.
func TestTransportIgnoresEnvProxy(t *testing.T) {
	proxy, proxyListener := newCountingServer(t, false)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("NO_PROXY", "")

	guard, err := hosts.NewGuard(hosts.GuardConfig{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS in this test")
	}}
	tr, err := hosts.NewTransport(hosts.TransportConfig{Guard: guard, Resolver: noDNS})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	if tr.Proxy != nil {
		t.Fatal("Transport.Proxy is set, want nil")
	}
	if _, err := get(t, tr, "http://upstream.example/"); err == nil {
		t.Fatal("request to an unresolvable name succeeded: it went through a proxy")
	}
	if n := proxyListener.accepts.Load(); n != 0 {
		t.Fatalf("environment proxy accepted %d connections, want 0", n)
	}

	// Control: an explicit Proxy is honored, so the proxy above does count.
	proxyURL, _ := url.Parse(proxy.URL)
	explicit, err := hosts.NewTransport(hosts.TransportConfig{Guard: guard, Resolver: noDNS, Proxy: http.ProxyURL(proxyURL)})
	if err != nil {
		t.Fatal(err)
	}
	defer explicit.CloseIdleConnections()
	if _, err := get(t, explicit, "http://upstream.example/"); err != nil {
		t.Fatalf("through an explicit proxy: %v", err)
	}
	if n := proxyListener.accepts.Load(); n != 1 {
		t.Fatalf("explicit proxy accepted %d connections, want 1", n)
	}
}

func TestTransportDefaultsAndValidation(t *testing.T) {
	tr, err := hosts.NewTransport(hosts.TransportConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.MaxIdleConns != 512 || tr.MaxIdleConnsPerHost != 64 || tr.MaxConnsPerHost != hosts.DefaultMaxConnsPerHost ||
		tr.TLSHandshakeTimeout != 10*time.Second || tr.ResponseHeaderTimeout != 30*time.Second ||
		tr.IdleConnTimeout != 90*time.Second {
		t.Fatalf("unexpected defaults: %+v", tr)
	}
	for _, cfg := range []hosts.TransportConfig{
		{DialTimeout: -1}, {KeepAlive: -1}, {TLSHandshakeTimeout: -1},
		{IdleConnTimeout: -1},
		{MaxIdleConns: -1}, {MaxIdleConnsPerHost: -1},
	} {
		if _, err := hosts.NewTransport(cfg); err == nil {
			t.Fatalf("NewTransport(%+v) succeeded, want error", cfg)
		}
	}
	// A negative MaxConnsPerHost means no limit (net/http's zero).
	if tr, err := hosts.NewTransport(hosts.TransportConfig{MaxConnsPerHost: -1}); err != nil || tr.MaxConnsPerHost != 0 {
		t.Fatalf("MaxConnsPerHost -1: got %v, %v; want 0 (no limit)", tr.MaxConnsPerHost, err)
	}
	// A negative ResponseHeaderTimeout means none.
	tr, err = hosts.NewTransport(hosts.TransportConfig{ResponseHeaderTimeout: -1})
	if err != nil || tr.ResponseHeaderTimeout != 0 {
		t.Fatalf("ResponseHeaderTimeout -1: got %v, %v; want 0 (none)", tr.ResponseHeaderTimeout, err)
	}
}
