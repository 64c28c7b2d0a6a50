package hosts_test

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/hosts"
)

func TestCheckHost(t *testing.T) {
	tests := []struct {
		host string
		want error // nil: accepted
		why  string
	}{
		{"api.example.com", nil, "plain name"},
		{"API.Example.COM", nil, "upper case is the same name"},
		{"api.example.com.", nil, "one trailing dot (FQDN) is the same name"},
		{"localhost", nil, "a name: the dial-time Guard refuses its addresses"},
		{"xn--bcher-kva.example", nil, "IDN in punycode"},
		{"my_host.example.com", nil, "underscore occurs in real names"},
		{"a-b.example.com", nil, "hyphen"},
		{"1password.com", nil, "leading digits in a non-final label"},
		{"api.example.com..", hosts.ErrBadURL, "two trailing dots: an empty label"},
		{"", hosts.ErrBadURL, "empty host"},
		{".example.com", hosts.ErrBadURL, "empty leading label"},
		{"a..example.com", hosts.ErrBadURL, "empty inner label"},
		{strings.Repeat("a", 64) + ".com", hosts.ErrBadURL, "label over 63 bytes"},
		{strings.Repeat("a.", 127) + "com", hosts.ErrBadURL, "name over 253 bytes"},
		{"evil.com%2f", hosts.ErrBadURL, "percent in a name: decoding tricks"},
		{"good.com@evil.com", hosts.ErrBadURL, "userinfo smuggled into the host"},
		{"good.com evil.com", hosts.ErrBadURL, "space"},
		{"evil.com/x", hosts.ErrBadURL, "path in the host"},
		{"evil.com\x00.good.com", hosts.ErrBadURL, "NUL truncation in C resolvers"},
		{"b\u00fccher.example", hosts.ErrBadURL, "raw non-ASCII (IDN must be punycode)"},
		{"\u212Aelvin.example", hosts.ErrBadURL, "Kelvin sign lower-cases to ASCII k in strings.ToLower"},
		{"evil\uff0ecom", hosts.ErrBadURL, "fullwidth full stop that IDNA maps to '.'"},
		{"example.com:443", hosts.ErrBadURL, "port given to a bare-host check"},
		{"127.0.0.1", hosts.ErrIPLiteral, "dotted decimal IPv4"},
		{"127.1", hosts.ErrIPLiteral, "inet_aton two-part form"},
		{"127.0.1", hosts.ErrIPLiteral, "inet_aton three-part form"},
		{"2130706433", hosts.ErrIPLiteral, "inet_aton one-part decimal"},
		{"0x7f000001", hosts.ErrIPLiteral, "inet_aton one-part hex"},
		{"0x7f.1", hosts.ErrIPLiteral, "inet_aton hex part"},
		{"0X7F.0.0.1", hosts.ErrIPLiteral, "upper-case hex prefix"},
		{"0177.0.0.1", hosts.ErrIPLiteral, "inet_aton octal part"},
		{"017700000001", hosts.ErrIPLiteral, "inet_aton one-part octal"},
		{"0x", hosts.ErrIPLiteral, "bare 0x is the number 0 to WHATWG"},
		{"169.254.169.254.", hosts.ErrIPLiteral, "metadata address with trailing dot"},
		{"1.2.3.4.5", hosts.ErrIPLiteral, "ends in a number (WHATWG refuses it as IPv4)"},
		{"evil.0x10", hosts.ErrIPLiteral, "ends in a hex number"},
		{"::1", hosts.ErrIPLiteral, "IPv6 loopback"},
		{"[::1]", hosts.ErrIPLiteral, "bracketed IPv6"},
		{"[::ffff:127.0.0.1]", hosts.ErrIPLiteral, "IPv4-mapped IPv6"},
		{"::ffff:7f00:1", hosts.ErrIPLiteral, "IPv4-mapped IPv6, hex form"},
		{"fe80::1%25eth0", hosts.ErrIPLiteral, "IPv6 with zone"},
		{"[fe80::1%eth0]", hosts.ErrIPLiteral, "bracketed IPv6 with zone"},
		{"[not-an-ip]", hosts.ErrIPLiteral, "brackets only ever hold IP literals"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			err := hosts.CheckHost(tt.host)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckHost(%q) = %v, want nil", tt.host, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("CheckHost(%q) = %v, want %v", tt.host, err, tt.want)
			}
		})
	}
}

// FuzzCheckHost asserts that nothing an address parser accepts passes as a
// name, and that accepted names stay within the documented alphabet.
func FuzzCheckHost(f *testing.F) {
	for _, s := range []string{
		"api.example.com", "localhost", "127.0.0.1", "0x7f.1", "2130706433", "0177.0.0.1",
		"127.1", "[::1]", "::ffff:127.0.0.1", "xn--bcher-kva.example", "a..b", "a.b.", "0x",
		"\u212Aelvin.example", "1.2.3.4.5", "1e1", "0.0.0.0", "00", "a_b.c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		err := hosts.CheckHost(host)
		if err == nil {
			if net.ParseIP(strings.TrimSuffix(host, ".")) != nil {
				t.Fatalf("CheckHost(%q) accepted an IP literal", host)
			}
			if _, perr := netip.ParseAddr(host); perr == nil {
				t.Fatalf("CheckHost(%q) accepted an IP literal", host)
			}
			if isInetAton(strings.TrimSuffix(host, ".")) {
				t.Fatalf("CheckHost(%q) accepted an inet_aton address", host)
			}
			for _, c := range []byte(host) {
				if !(c == '.' || c == '-' || c == '_' || '0' <= c && c <= '9' ||
					'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
					t.Fatalf("CheckHost(%q) accepted byte %q", host, c)
				}
			}
			return
		}
		if !errors.Is(err, hosts.ErrBadURL) && !errors.Is(err, hosts.ErrIPLiteral) {
			t.Fatalf("CheckHost(%q) = %v, want ErrBadURL or ErrIPLiteral", host, err)
		}
	})
}

// isInetAton is an independent inet_aton: 1 to 4 parts, each decimal,
// 0-octal or 0x-hex.
func isInetAton(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 1 || len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		digits, base := p, "0123456789"
		switch {
		case strings.HasPrefix(strings.ToLower(p), "0x"):
			digits, base = p[2:], "0123456789abcdefABCDEF"
		case strings.HasPrefix(p, "0"):
			base = "01234567"
		}
		for _, c := range digits {
			if !strings.ContainsRune(base, c) {
				return false
			}
		}
	}
	return true
}
