package middleware_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// fakeDNS is a tiny authoritative DNS server on 127.0.0.1 (UDP) for the
// security tests: names map to the addresses a test chooses, everything else
// is NXDOMAIN. Its resolver() sends every query here and nowhere else, so a
// test never asks a real DNS server anything and never learns a real address.
//
// It only serves addresses that reach this machine (127.0.0.0/8, ::1,
// ::ffff:127.x, 0.0.0.0): even if the dial guard under test were broken, no
// packet could leave the host.
type fakeDNS struct {
	pc      net.PacketConn
	queries atomic.Int64
	mu      sync.Mutex
	records map[string][]netip.Addr
}

func newFakeDNS(t *testing.T) *fakeDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDNS{pc: pc, records: map[string][]netip.Addr{}}
	t.Cleanup(func() { pc.Close() })
	go d.serve()
	return d
}

// set replaces name's records. It panics on an address that could leave the host.
func (d *fakeDNS) set(name string, addrs ...string) {
	var as []netip.Addr
	for _, s := range addrs {
		a := netip.MustParseAddr(s)
		if u := a.Unmap(); !u.IsLoopback() && !u.IsUnspecified() {
			panic("fakeDNS: refusing to serve a non-local address " + s)
		}
		as = append(as, a)
	}
	d.mu.Lock()
	d.records[strings.ToLower(strings.TrimSuffix(name, "."))] = as
	d.mu.Unlock()
}

// resolver returns a pure-Go resolver whose every query goes to d.
func (d *fakeDNS) resolver() *net.Resolver {
	addr := d.pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", addr) // whatever server resolv.conf names
	}}
}

func (d *fakeDNS) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := d.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := d.answer(buf[:n]); resp != nil {
			_, _ = d.pc.WriteTo(resp, from)
		}
	}
}

// answer builds the response to one query, by hand: header, the question
// echoed, then A or AAAA records pointing back at the question's name.
func (d *fakeDNS) answer(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	d.queries.Add(1)
	var labels []string
	i := 12
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if l > 63 || i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qEnd := i + 5 // zero label, type, class
	qtype := binary.BigEndian.Uint16(q[i+1 : i+3])
	name := strings.ToLower(strings.Join(labels, "."))
	d.mu.Lock()
	addrs, known := d.records[name]
	d.mu.Unlock()

	out := make([]byte, 12, 512)
	copy(out, q[:2])                                  // id
	flags := uint16(0x8000 | 0x0400 | 0x0080)         // response, authoritative, recursion available
	flags |= binary.BigEndian.Uint16(q[2:4]) & 0x0100 // recursion desired, echoed
	if !known {
		flags |= 3 // NXDOMAIN
	}
	binary.BigEndian.PutUint16(out[2:], flags)
	binary.BigEndian.PutUint16(out[4:], 1) // one question
	out = append(out, q[12:qEnd]...)
	count := 0
	for _, a := range addrs {
		var rdata []byte
		switch {
		case qtype == 1 && a.Is4():
			b := a.As4()
			rdata = b[:]
		case qtype == 28 && a.Is6():
			b := a.As16()
			rdata = b[:]
		default:
			continue
		}
		out = append(out, 0xc0, 12) // the question's name
		out = binary.BigEndian.AppendUint16(out, qtype)
		out = binary.BigEndian.AppendUint16(out, 1) // IN
		out = binary.BigEndian.AppendUint32(out, 0) // TTL: never cache
		out = binary.BigEndian.AppendUint16(out, uint16(len(rdata)))
		out = append(out, rdata...)
		count++
	}
	binary.BigEndian.PutUint16(out[6:], uint16(count))
	return out
}

// withFakeDNS makes the env's upstream transports resolve through d only.
func withFakeDNS(d *fakeDNS) func(*middleware.Config) {
	return func(c *middleware.Config) { c.Forwarder.Transport.Resolver = d.resolver() }
}

// countingListener counts the connections a loopback listener accepted: a
// refused dial must not even reach accept.
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

// countingServer serves a fixed JSON answer on addr ("127.0.0.1:0") and
// counts accepted connections. It answers "Connection: close" so that every
// request dials anew.
func countingServer(t *testing.T, addr string) (*countingListener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	cl := &countingListener{Listener: ln}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"internal":true}`)
	})}
	go func() { _ = srv.Serve(cl) }()
	t.Cleanup(func() { srv.Close() })
	return cl, ln.Addr().(*net.TCPAddr).Port
}

// dnsIntegration is an integration whose base host is a fake-DNS name.
func dnsIntegration(typ, host string, port int, allow ...string) integrations.Config {
	return integrations.Config{
		Type: typ, BaseURL: "http://" + host + ":" + strconv.Itoa(port) + "/base", AllowedSchemes: []string{"http"},
		AllowAddresses: allow, Auth: integrations.SchemeConfig{Type: integrations.AuthAPIKey},
	}
}

// TestSecurityDNSResolvesInternal defends against SSRF through DNS: an
// allowed host name whose records point at internal addresses (a provider's
// DNS taken over, a customer-controlled template host, a rebinding name).
// The allowlist check on the name passes; the dial guard, judging each
// resolved address right before connect, refuses, and the internal listener
// accepts no connection.
func TestSecurityDNSResolvesInternal(t *testing.T) {
	dns := newFakeDNS(t)
	internal, port := countingServer(t, "127.0.0.1:0")
	dns.set("rebind.test", "127.0.0.1")
	dns.set("multi.test", "0.0.0.0", "127.0.0.1") // every record is checked, 0.0.0.0 reaches the local host on Linux
	dns.set("mapped.test", "::ffff:127.0.0.1")    // an AAAA record holding an IPv4-mapped loopback address
	dns.set("six.test", "::1")                    // IPv6 loopback
	dns.set("control.test", "127.0.0.1")          // positive control: the fake resolver is really used
	e := envWith(t, []integrations.Config{
		dnsIntegration("rebind", "rebind.test", port),
		dnsIntegration("multi", "multi.test", port),
		dnsIntegration("mapped", "mapped.test", port),
		dnsIntegration("six", "six.test", port),
		dnsIntegration("control", "control.test", port, "127.0.0.0/8"),
	}, withFakeDNS(dns))
	for _, in := range []string{"rebind", "multi", "mapped", "six", "control"} {
		connect(t, e, in, tokens.Credential{APIKey: "k-" + in}, nil)
	}
	cases := []struct {
		integration string
		status      int
		code        string
	}{
		{"rebind", 403, "HOST_ADDRESS_DENIED"}, // an allowed name resolving to 127.0.0.1
		{"multi", 403, "HOST_ADDRESS_DENIED"},  // several records, all internal
		{"mapped", 403, "HOST_ADDRESS_DENIED"}, // ::ffff:127.0.0.1 judged as the IPv4 address it maps
		{"six", 403, "HOST_ADDRESS_DENIED"},    // ::1
		{"control", 200, ""},                   // allowed by AllowAddresses: proves the name resolved through the fake DNS
	}
	for _, tc := range cases {
		t.Run(tc.integration, func(t *testing.T) {
			before := internal.accepts.Load()
			resp := e.Do(t, "GET", e.ProxyURL(tc.integration, "x"), nil, nil)
			if tc.code == "" {
				if body := readBody(t, resp); resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
				}
				if internal.accepts.Load() != before+1 {
					t.Fatalf("accepts %d → %d, want one connection", before, internal.accepts.Load())
				}
				return
			}
			b := errorBody(t, resp)
			if resp.StatusCode != tc.status || b.Code != tc.code || b.Message != response.MessageDomainInvalid {
				t.Fatalf("got %d %+v, want %d %s", resp.StatusCode, b, tc.status, tc.code)
			}
			if n := internal.accepts.Load(); n != before {
				t.Fatalf("the internal listener accepted %d connection(s)", n-before)
			}
		})
	}
	if dns.queries.Load() == 0 {
		t.Fatal("the fake DNS server was never asked")
	}
}

// TestSecurityDNSRebinding defends against DNS rebinding: a name that first
// resolves to a permitted address and, on the next lookup, to an internal one.
// The decision is made on every dial, on the address actually dialed, so the
// second request is refused and the internal listener never accepts.
func TestSecurityDNSRebinding(t *testing.T) {
	dns := newFakeDNS(t)
	internal, port := countingServer(t, "127.0.0.1:0")
	// The "provider" lives on 127.0.0.2, the only range the integration may reach.
	provider, _ := countingServer(t, "127.0.0.2:"+strconv.Itoa(port))
	dns.set("flip.test", "127.0.0.2")
	e := envWith(t, []integrations.Config{dnsIntegration("flip", "flip.test", port, "127.0.0.2/32")}, withFakeDNS(dns))
	connect(t, e, "flip", tokens.Credential{APIKey: "k"}, nil)

	resp := e.Do(t, "GET", e.ProxyURL("flip", "x"), nil, nil)
	if body := readBody(t, resp); resp.StatusCode != 200 || provider.accepts.Load() != 1 {
		t.Fatalf("first lookup (permitted address): %d %s, provider accepts %d", resp.StatusCode, body, provider.accepts.Load())
	}
	dns.set("flip.test", "127.0.0.1") // rebound
	resp = e.Do(t, "GET", e.ProxyURL("flip", "x"), nil, nil)
	if b := errorBody(t, resp); resp.StatusCode != 403 || b.Code != "HOST_ADDRESS_DENIED" {
		t.Fatalf("after rebinding: %d %+v, want 403 HOST_ADDRESS_DENIED", resp.StatusCode, b)
	}
	if n := internal.accepts.Load(); n != 0 {
		t.Fatalf("the internal listener accepted %d connection(s)", n)
	}
}

// TestSecurityFakeDNSOnlyLocal: the test resolver itself never hands out an
// address that leaves the host, and unknown names are NXDOMAIN (so a test
// that went wrong cannot reach a real server either).
func TestSecurityFakeDNSOnlyLocal(t *testing.T) {
	dns := newFakeDNS(t)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("fakeDNS served a public address")
			}
		}()
		dns.set("public.test", "93.184.216.34")
	}()
	_, err := dns.resolver().LookupHost(t.Context(), "unknown.example.com")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("unknown name: %v, want not found", err)
	}
}
