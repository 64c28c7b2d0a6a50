package onbehalftest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// FakeResolver answers host-name lookups from a table, in memory: no query
// leaves the process, not even to a DNS server on loopback. A name the table
// lacks answers "no such host (fake resolver)" and is recorded, so a test can
// check that nothing unexpected was looked up (Unknown). The table serves
// only addresses of this machine (127.0.0.0/8, ::1, their IPv4-mapped forms,
// 0.0.0.0 and ::): even if the defence under test regresses, a test that
// resolves through a FakeResolver reaches at most loopback.
//
// Give Resolver() to hosts.TransportConfig.Resolver (the upstream transport),
// and Client() or DialContext to anything else that makes HTTP requests by
// name (token endpoints, JWKS). NewEnv does both.
//
// FakeResolver is safe for concurrent use.
type FakeResolver struct {
	fail    func(format string, args ...any) // t.Fatalf, or a panic before m.Run
	mu      sync.Mutex
	records map[string][]netip.Addr
	lookups []string // distinct names asked, in order
	unknown []string // distinct names asked that the table lacks, in order
}

// NewFakeResolver returns a FakeResolver whose table is records (name →
// addresses) plus "localhost" → 127.0.0.1 unless records names it. It fails
// t for an address that could leave the machine.
func NewFakeResolver(t testing.TB, records map[string][]string) *FakeResolver {
	t.Helper()
	return newFakeResolver(t.Fatalf, records)
}

func newFakeResolver(fail func(string, ...any), records map[string][]string) *FakeResolver {
	r := &FakeResolver{fail: fail, records: map[string][]netip.Addr{}}
	r.Set("localhost", "127.0.0.1")
	for name, addrs := range records {
		r.Set(name, addrs...)
	}
	return r
}

// RunWithFakeResolver runs m with net.DefaultResolver replaced by a
// FakeResolver over records (and "localhost"), so that every lookup the
// package's tests do not route to a resolver of their own (http.DefaultClient,
// clients and transports built with defaults, a defence that regressed into
// dialing by name) stays in the process. Use it as the package's TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(onbehalftest.RunWithFakeResolver(m, nil)) }
//
// When the tests pass but looked up names the table lacks, it prints them
// and returns 1: such a lookup would have gone to the machine's resolver.
func RunWithFakeResolver(m *testing.M, records map[string][]string) int {
	r := newFakeResolver(func(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }, records)
	net.DefaultResolver = r.Resolver()
	code := m.Run()
	if unknown := r.Unknown(); len(unknown) > 0 {
		fmt.Fprintf(os.Stderr, "onbehalftest: net.DefaultResolver was asked for names it does not know: %s\n",
			strings.Join(unknown, ", "))
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Set replaces name's addresses; no addresses make name known with no
// records (an empty answer, not "no such host"). It fails the test for an
// address that could leave the machine.
func (r *FakeResolver) Set(name string, addrs ...string) {
	as := make([]netip.Addr, 0, len(addrs))
	for _, s := range addrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			r.fail("FakeResolver: %q: %v", s, err)
		}
		if !local(a) {
			r.fail("FakeResolver: refusing to serve %s for %q: not an address of this machine", s, name)
		}
		as = append(as, a)
	}
	r.mu.Lock()
	r.records[canonicalName(name)] = as
	r.mu.Unlock()
}

// Lookups returns the distinct names looked up so far, in order.
func (r *FakeResolver) Lookups() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lookups)
}

// Unknown returns the distinct names looked up so far that the table lacks,
// in order. A test whose targets must be refused before any lookup checks
// that it is empty.
func (r *FakeResolver) Unknown() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.unknown)
}

// lookup answers name from the table and records the question.
func (r *FakeResolver) lookup(name string) ([]netip.Addr, bool) {
	name = canonicalName(name)
	r.mu.Lock()
	defer r.mu.Unlock()
	addrs, ok := r.records[name]
	if !slices.Contains(r.lookups, name) {
		r.lookups = append(r.lookups, name)
	}
	if !ok && !slices.Contains(r.unknown, name) {
		r.unknown = append(r.unknown, name)
	}
	return addrs, ok
}

// Resolver returns a pure-Go *net.Resolver whose DNS server is r, in memory.
// (Like any Go resolver it reads /etc/hosts first, where "localhost" is.)
func (r *FakeResolver) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		client, server := net.Pipe() // not a PacketConn: the resolver frames queries as over TCP
		go r.serve(server)
		return client, nil
	}}
}

// DialContext dials addr ("host:port") over network, resolving host through
// r's table only. It refuses any address that is not of this machine.
func (r *FakeResolver) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if found, ok := r.lookup(host); ok {
		addrs = found
	} else {
		return nil, &net.DNSError{Err: "no such host (fake resolver)", Name: host, IsNotFound: true}
	}
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no addresses (fake resolver)", Name: host, IsNotFound: true}
	}
	var d net.Dialer
	var first error
	for _, a := range addrs {
		if !local(a) {
			return nil, fmt.Errorf("onbehalftest: FakeResolver refuses to dial %s: not an address of this machine", a)
		}
		c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// Client returns an HTTP client whose connections go through r.DialContext,
// with no proxy: for token endpoints, JWKS and other clients of a test.
func (r *FakeResolver) Client() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: r.DialContext, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16,
		IdleConnTimeout: 30 * time.Second, TLSHandshakeTimeout: 10 * time.Second,
	}}
}

// local reports whether a is an address of this machine.
func local(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsUnspecified()
}

func canonicalName(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// serve answers DNS queries on one in-memory stream connection: each message
// is preceded by its length in two bytes.
func (r *FakeResolver) serve(c net.Conn) {
	defer c.Close()
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		resp, err := r.answer(q)
		if err != nil {
			return
		}
		if _, err := c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(resp)))); err != nil {
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

var errBadQuery = errors.New("onbehalftest: malformed DNS query")

// answer builds the response to one query: the header, the question echoed,
// then A or AAAA records naming the question (NXDOMAIN for an unknown name).
func (r *FakeResolver) answer(q []byte) ([]byte, error) {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil, errBadQuery
	}
	var labels []string
	i := 12
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if l > 63 || i+1+l > len(q) {
			return nil, errBadQuery
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil, errBadQuery
	}
	qEnd := i + 5 // the zero label, type and class
	qtype := binary.BigEndian.Uint16(q[i+1 : i+3])
	addrs, known := r.lookup(strings.Join(labels, "."))

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
		out = append(out, 0xc0, 12) // a pointer to the question's name
		out = binary.BigEndian.AppendUint16(out, qtype)
		out = binary.BigEndian.AppendUint16(out, 1) // IN
		out = binary.BigEndian.AppendUint32(out, 0) // TTL: never cache
		out = binary.BigEndian.AppendUint16(out, uint16(len(rdata)))
		out = append(out, rdata...)
		count++
	}
	binary.BigEndian.PutUint16(out[6:], uint16(count))
	return out, nil
}
