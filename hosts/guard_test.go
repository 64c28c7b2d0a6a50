package hosts_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/hosts"
)

func TestGuardCheckDefault(t *testing.T) {
	g, err := hosts.NewGuard(hosts.GuardConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr    string
		allowed bool
		why     string
	}{
		{"93.184.215.14", true, "public IPv4"},
		{"8.8.8.8", true, "public IPv4"},
		{"2606:4700::1111", true, "public IPv6"},
		{"::ffff:8.8.8.8", true, "IPv4-mapped public address is judged as IPv4"},
		{"0.0.0.0", false, "unspecified: reaches local services on Linux"},
		{"0.1.2.3", false, "this-network 0.0.0.0/8"},
		{"10.1.2.3", false, "RFC 1918 10/8"},
		{"172.16.0.1", false, "RFC 1918 172.16/12 low end"},
		{"172.31.255.255", false, "RFC 1918 172.16/12 high end"},
		{"172.32.0.1", true, "just outside 172.16/12"},
		{"192.168.1.1", false, "RFC 1918 192.168/16"},
		{"100.64.0.1", false, "carrier-grade NAT 100.64/10"},
		{"100.127.255.255", false, "carrier-grade NAT high end"},
		{"100.128.0.1", true, "just outside 100.64/10"},
		{"127.0.0.1", false, "loopback"},
		{"127.255.255.254", false, "loopback, whole /8"},
		{"169.254.169.254", false, "link-local: cloud metadata service"},
		{"192.0.0.170", false, "IETF protocol assignments 192.0.0/24"},
		{"192.0.2.1", false, "TEST-NET-1"},
		{"198.51.100.1", false, "TEST-NET-2"},
		{"203.0.113.1", false, "TEST-NET-3"},
		{"198.18.0.1", false, "benchmarking 198.18/15"},
		{"198.19.255.255", false, "benchmarking high end"},
		{"192.88.99.1", false, "6to4 relay anycast"},
		{"224.0.0.1", false, "multicast"},
		{"239.255.255.250", false, "multicast SSDP"},
		{"240.0.0.1", false, "reserved 240/4"},
		{"255.255.255.255", false, "limited broadcast"},
		{"::", false, "IPv6 unspecified"},
		{"::1", false, "IPv6 loopback"},
		{"::127.0.0.1", false, "IPv4-compatible IPv6"},
		{"::ffff:127.0.0.1", false, "IPv4-mapped loopback: unmapped before deciding"},
		{"::ffff:169.254.169.254", false, "IPv4-mapped metadata address"},
		{"::ffff:0:7f00:1", false, "IPv4-translated loopback"},
		{"64:ff9b::7f00:1", false, "NAT64 of loopback"},
		{"64:ff9b::808:808", false, "NAT64 as a whole (denied by default)"},
		{"64:ff9b:1::1", false, "NAT64 local-use"},
		{"100::1", false, "discard-only"},
		{"2001::1", false, "Teredo"},
		{"2001:2::1", false, "IPv6 benchmarking"},
		{"2001:db8::1", false, "IPv6 documentation"},
		{"3fff::1", false, "IPv6 documentation (RFC 9637)"},
		{"2002:7f00:1::1", false, "6to4 embedding 127.0.0.1"},
		{"fc00::1", false, "unique local fc00::/7"},
		{"fd12:3456::1", false, "unique local fd00::/8"},
		{"fe80::1", false, "link-local"},
		{"fe80::1%eth0", false, "link-local with zone"},
		{"fec0::1", false, "site-local"},
		{"ff02::1", false, "IPv6 multicast"},
		{"fd00:ec2::254", false, "AWS IMDS over IPv6 (unique local)"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			addr := netip.MustParseAddr(tt.addr)
			err := g.Check(addr)
			if tt.allowed {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want nil", addr, err)
				}
				return
			}
			if !errors.Is(err, hosts.ErrAddressDenied) {
				t.Fatalf("Check(%s) = %v, want ErrAddressDenied", addr, err)
			}
			if !strings.Contains(err.Error(), addr.String()) {
				t.Fatalf("error %q does not name the address", err)
			}
		})
	}
}

func TestGuardConfig(t *testing.T) {
	g, err := hosts.NewGuard(hosts.GuardConfig{
		Allow: []netip.Prefix{
			netip.MustParsePrefix("127.0.0.0/8"),
			netip.MustParsePrefix("::1/128"),
			netip.MustParsePrefix("::ffff:10.9.0.0/112"), // mapped form converts to 10.9.0.0/16
			netip.MustParsePrefix("64:ff9b::/96"),        // DNS64 network
		},
		Deny: []netip.Prefix{
			netip.MustParsePrefix("127.0.0.53/32"),
			netip.MustParsePrefix("8.8.4.0/24"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr    string
		allowed bool
		why     string
	}{
		{"127.0.0.1", true, "allowed range"},
		{"::1", true, "allowed IPv6 loopback"},
		{"::ffff:127.0.0.1", true, "mapped form of an allowed address"},
		{"10.9.1.1", true, "allowed through a mapped prefix"},
		{"10.8.1.1", false, "private, outside the allowed range"},
		{"127.0.0.53", false, "Deny wins over Allow"},
		{"8.8.4.4", false, "extra Deny of a public range"},
		{"::ffff:8.8.4.4", false, "extra Deny applies to the mapped form"},
		{"64:ff9b::808:808", true, "allowed NAT64 of a public address"},
		{"64:ff9b::a9fe:a9fe", false, "allowed NAT64 range still refuses embedded 169.254.169.254"},
		{"64:ff9b::7f00:1", true, "allowed NAT64 of an allowed embedded address"},
		{"169.254.169.254", false, "defaults still apply"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			err := g.Check(netip.MustParseAddr(tt.addr))
			if (err == nil) != tt.allowed {
				t.Fatalf("Check(%s) = %v, want allowed=%v", tt.addr, err, tt.allowed)
			}
		})
	}
}

func TestGuardInvalidConfig(t *testing.T) {
	for _, cfg := range []hosts.GuardConfig{
		{Allow: []netip.Prefix{{}}},
		{Deny: []netip.Prefix{{}}},
	} {
		if _, err := hosts.NewGuard(cfg); err == nil {
			t.Fatalf("NewGuard(%v) succeeded, want error", cfg)
		}
	}
}

func TestGuardControl(t *testing.T) {
	g, err := hosts.NewGuard(hosts.GuardConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		network, address string
		allowed          bool
		why              string
	}{
		{"tcp4", "8.8.8.8:443", true, "public address"},
		{"tcp6", "[2606:4700::1111]:443", true, "public IPv6"},
		{"tcp", "8.8.8.8:443", true, "generic tcp"},
		{"tcp4", "127.0.0.1:80", false, "loopback"},
		{"tcp6", "[::ffff:127.0.0.1]:80", false, "mapped loopback"},
		{"tcp6", "[fe80::1%eth0]:80", false, "link-local with zone"},
		{"udp4", "8.8.8.8:53", false, "UDP is not a proxy network"},
		{"unix", "/var/run/docker.sock", false, "unix socket"},
		{"tcp4", "localhost:80", false, "a name, not a resolved address"},
		{"tcp4", "8.8.8.8", false, "no port"},
		{"tcp4", "", false, "empty address"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			err := g.Control(tt.network, tt.address, nil)
			if tt.allowed {
				if err != nil {
					t.Fatalf("Control(%q, %q) = %v, want nil", tt.network, tt.address, err)
				}
				return
			}
			if !errors.Is(err, hosts.ErrAddressDenied) {
				t.Fatalf("Control(%q, %q) = %v, want ErrAddressDenied", tt.network, tt.address, err)
			}
		})
	}
}

func TestGuardNilAndInvalid(t *testing.T) {
	var g *hosts.Guard
	if err := g.Check(netip.MustParseAddr("127.0.0.1")); !errors.Is(err, hosts.ErrAddressDenied) {
		t.Fatalf("nil Guard: Check(127.0.0.1) = %v, want ErrAddressDenied", err)
	}
	if err := g.Check(netip.MustParseAddr("8.8.8.8")); err != nil {
		t.Fatalf("nil Guard: Check(8.8.8.8) = %v, want nil", err)
	}
	if err := g.Check(netip.Addr{}); !errors.Is(err, hosts.ErrAddressDenied) {
		t.Fatalf("Check(zero Addr) = %v, want ErrAddressDenied", err)
	}
}
