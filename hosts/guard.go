package hosts

import (
	"fmt"
	"net/netip"
	"syscall"
)

// deniedByDefault lists the ranges a Guard refuses unless GuardConfig.Allow
// permits them: everything that is not a publicly routable unicast address.
var deniedByDefault = []netip.Prefix{
	// IPv4
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network" (RFC 791); 0.0.0.0 reaches the local host on Linux
	netip.MustParsePrefix("10.0.0.0/8"),         // private (RFC 1918)
	netip.MustParsePrefix("100.64.0.0/10"),      // shared address space, carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("127.0.0.0/8"),        // loopback (RFC 1122)
	netip.MustParsePrefix("169.254.0.0/16"),     // link-local, cloud metadata 169.254.169.254 (RFC 3927)
	netip.MustParsePrefix("172.16.0.0/12"),      // private (RFC 1918)
	netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments (RFC 6890)
	netip.MustParsePrefix("192.0.2.0/24"),       // documentation TEST-NET-1 (RFC 5737)
	netip.MustParsePrefix("192.88.99.0/24"),     // 6to4 relay anycast, deprecated (RFC 7526)
	netip.MustParsePrefix("192.168.0.0/16"),     // private (RFC 1918)
	netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking (RFC 2544)
	netip.MustParsePrefix("198.51.100.0/24"),    // documentation TEST-NET-2 (RFC 5737)
	netip.MustParsePrefix("203.0.113.0/24"),     // documentation TEST-NET-3 (RFC 5737)
	netip.MustParsePrefix("224.0.0.0/4"),        // multicast (RFC 5771)
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved (RFC 1112)
	netip.MustParsePrefix("255.255.255.255/32"), // limited broadcast (RFC 919); inside 240/4, listed for the reader

	// IPv6
	netip.MustParsePrefix("::/96"),           // IPv4-compatible, deprecated (RFC 4291); holds :: unspecified and ::1 loopback
	netip.MustParsePrefix("::ffff:0:0/96"),   // IPv4-mapped; Check unmaps these first and judges the IPv4 address
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated (RFC 2765)
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64 well-known prefix, embeds any IPv4 address (RFC 6052)
	netip.MustParsePrefix("64:ff9b:1::/48"),  // NAT64 local-use (RFC 8215)
	netip.MustParsePrefix("100::/64"),        // discard-only (RFC 6666)
	netip.MustParsePrefix("2001::/32"),       // Teredo, embeds IPv4 server and client (RFC 4380)
	netip.MustParsePrefix("2001:2::/48"),     // benchmarking (RFC 5180)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation (RFC 3849)
	netip.MustParsePrefix("2002::/16"),       // 6to4, embeds IPv4 (RFC 3056)
	netip.MustParsePrefix("3fff::/20"),       // documentation (RFC 9637)
	netip.MustParsePrefix("fc00::/7"),        // unique local, private (RFC 4193)
	netip.MustParsePrefix("fe80::/10"),       // link-local (RFC 4291)
	netip.MustParsePrefix("fec0::/10"),       // site-local, deprecated (RFC 3879)
	netip.MustParsePrefix("ff00::/8"),        // multicast (RFC 4291)
}

// GuardConfig configures a Guard. The zero value denies every range in the
// default table and permits all other (public unicast) addresses.
type GuardConfig struct {
	// Allow lists ranges permitted even though the default table denies them
	// (tests: 127.0.0.0/8 and ::1/128; on-premises providers: their private
	// range). Zero value: none. An address in an allowed IPv6 range that
	// embeds an IPv4 address (NAT64 64:ff9b::/96, 6to4, Teredo client) is
	// still refused when the embedded IPv4 address is denied and not allowed.
	Allow []netip.Prefix
	// Deny lists extra ranges to refuse. Deny wins over Allow. Zero value: none.
	Deny []netip.Prefix
}

// Guard decides at dial time, on the resolved address, whether a connection
// may be made. Deciding on the address rather than the name closes DNS
// rebinding and multi-record tricks. A Guard is immutable and safe for
// concurrent use; a nil *Guard behaves like NewGuard(GuardConfig{}).
type Guard struct {
	allow []netip.Prefix
	deny  []netip.Prefix
}

// NewGuard validates cfg and returns a Guard. Prefixes are masked; IPv4-mapped
// prefixes (::ffff:10.0.0.0/104) are converted to their IPv4 form, since Check
// judges mapped addresses as IPv4.
func NewGuard(cfg GuardConfig) (*Guard, error) {
	allow, err := normalizePrefixes(cfg.Allow, "Allow")
	if err != nil {
		return nil, err
	}
	deny, err := normalizePrefixes(cfg.Deny, "Deny")
	if err != nil {
		return nil, err
	}
	return &Guard{allow: allow, deny: deny}, nil
}

func normalizePrefixes(in []netip.Prefix, field string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for _, p := range in {
		if !p.IsValid() {
			return nil, fmt.Errorf("hosts: GuardConfig.%s: invalid prefix %s", field, p)
		}
		if p.Addr().Zone() != "" {
			return nil, fmt.Errorf("hosts: GuardConfig.%s: prefix %s has a zone", field, p)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Check returns nil if a connection to addr is permitted, and otherwise an
// error wrapping ErrAddressDenied that names the address. IPv4-mapped IPv6
// addresses (::ffff:127.0.0.1) are unmapped first; zones are ignored.
func (g *Guard) Check(addr netip.Addr) error {
	if !addr.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrAddressDenied)
	}
	a := addr.WithZone("").Unmap()
	if !g.permits(a) {
		return fmt.Errorf("%w: %s", ErrAddressDenied, addr)
	}
	return nil
}

func (g *Guard) permits(a netip.Addr) bool {
	var allow, deny []netip.Prefix
	if g != nil {
		allow, deny = g.allow, g.deny
	}
	if contains(deny, a) {
		return false
	}
	if contains(allow, a) {
		if v4, ok := embeddedIPv4(a); ok {
			return !contains(deny, v4) && (contains(allow, v4) || !contains(deniedByDefault, v4))
		}
		return true
	}
	return !contains(deniedByDefault, a)
}

// Control is a net.Dialer Control function: it parses address (an IP and
// port, as the dialer passes it after resolution) and applies Check. Only
// the "tcp", "tcp4" and "tcp6" networks are permitted.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("%w: network %q", ErrAddressDenied, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: not an IP address and port: %q", ErrAddressDenied, address)
	}
	return g.Check(ap.Addr())
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

var (
	nat64Prefix  = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour    = netip.MustParsePrefix("2002::/16")
	teredoPrefix = netip.MustParsePrefix("2001::/32")
)

// embeddedIPv4 returns the IPv4 address that an IPv6 transition address
// routes to: the last 32 bits for NAT64, bits 16..48 for 6to4, and the
// inverted last 32 bits (the client) for Teredo.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case nat64Prefix.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	case teredoPrefix.Contains(a):
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	}
	return netip.Addr{}, false
}
