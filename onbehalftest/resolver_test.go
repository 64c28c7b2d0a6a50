package onbehalftest_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"

	"github.com/onbehalf/onbehalf/onbehalftest"
)

// A name the table lacks must fail without reaching any DNS server (the
// machine's resolver would send "evil.example.com" off the machine), and be
// recorded so a test can tell it was asked for.
func TestFakeResolverUnknownNameIsRecorded(t *testing.T) {
	r := onbehalftest.NewFakeResolver(t, map[string][]string{"api.tasklab.test": {"127.0.0.1", "::1"}})
	got, err := r.Resolver().LookupNetIP(t.Context(), "ip", "api.tasklab.test")
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, netip.Addr.Compare)
	if want := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	_, err = r.Resolver().LookupNetIP(t.Context(), "ip", "Evil.Example.COM.")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("got %v, want a not-found *net.DNSError", err)
	}
	if _, err := r.DialContext(t.Context(), "tcp", "evil.example.com:443"); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("DialContext: got %v, want a not-found *net.DNSError", err)
	}
	if got, want := r.Unknown(), []string{"evil.example.com"}; !slices.Equal(got, want) {
		t.Fatalf("Unknown() = %v, want %v", got, want)
	}
	if got, want := r.Lookups(), []string{"api.tasklab.test", "evil.example.com"}; !slices.Equal(got, want) {
		t.Fatalf("Lookups() = %v, want %v", got, want)
	}
}

// Client reaches a loopback server by a made-up name through the table.
func TestFakeResolverClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	defer srv.Close()
	r := onbehalftest.NewFakeResolver(t, map[string][]string{"tokens.tasklab.test": {"127.0.0.1"}})
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	resp, err := r.Client().Get("http://tokens.tasklab.test:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot {
		t.Fatalf("got %d, want %d", resp.StatusCode, http.StatusTeapot)
	}
	if _, err := r.Client().Get("http://10.255.255.53:" + port + "/"); err == nil {
		t.Fatal("Client dialed an address that is not of this machine")
	}
}

// The table refuses to serve an address off the machine.
func TestFakeResolverRefusesRemoteAddresses(t *testing.T) {
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() { recover() }()
		onbehalftest.NewFakeResolver(ft, map[string][]string{"metadata.test": {"169.254.169.254"}})
	}()
	if !ft.failed {
		t.Fatal("NewFakeResolver accepted 169.254.169.254")
	}
}

type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}
