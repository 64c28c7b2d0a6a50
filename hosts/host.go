package hosts

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Sentinel errors. Every error this package returns wraps exactly one of them
// (test with errors.Is). Messages carry host names, addresses or patterns only,
// never paths, queries or credentials.
var (
	// ErrHostNotAllowed: the target host is neither the base URL's host nor in the allowlist.
	ErrHostNotAllowed = errors.New("hosts: host not allowed")
	// ErrIPLiteral: the target host is an IP address in some encoding (127.0.0.1,
	// 0x7f.1, 2130706433, 0177.0.0.1, 127.1, [::1], [::ffff:127.0.0.1], ...).
	ErrIPLiteral = errors.New("hosts: IP literal hosts are not allowed")
	// ErrScheme: the target scheme is not permitted by the Policy.
	ErrScheme = errors.New("hosts: scheme not allowed")
	// ErrPort: the target port is not permitted by the Policy.
	ErrPort = errors.New("hosts: port not allowed")
	// ErrUserinfo: the target URL carries userinfo (https://user@host/).
	ErrUserinfo = errors.New("hosts: userinfo in URL")
	// ErrPathEscape: the reference could leave the base path or switch hosts
	// (dot-segments, encoded slashes, backslashes, protocol-relative "//host").
	ErrPathEscape = errors.New("hosts: path escapes the base path")
	// ErrBadURL: the reference or a host name is malformed.
	ErrBadURL = errors.New("hosts: malformed target URL")
	// ErrAddressDenied: the dial-time Guard refused the resolved address.
	ErrAddressDenied = errors.New("hosts: address denied")
)

const (
	maxNameLen  = 253
	maxLabelLen = 63
)

// CheckHost validates a bare host name (no port, no brackets) as a target name.
//
// It returns an error wrapping ErrIPLiteral for anything an address parser
// could read as an IP address: net.ParseIP and netip forms, bracketed IPv6,
// and inet_aton forms (decimal, octal, hex, one to four parts). Following the
// WHATWG URL rule, a name whose last label is numeric ("1.2.3.4.5", "a.0x1f")
// counts as an IP literal too. It returns an error wrapping ErrBadURL for an
// empty name, empty labels, labels over 63 bytes, names over 253 bytes, and
// any byte outside [A-Za-z0-9._-] (this includes "%", "@", " " and all
// non-ASCII: internationalized names must be given in punycode, "xn--...").
// One trailing dot is accepted. "localhost" is a name: the Guard refuses the
// addresses it resolves to.
func CheckHost(host string) error {
	_, err := normalizeHost(host)
	return err
}

// normalizeHost is CheckHost returning the canonical name: ASCII lower case,
// without the trailing dot.
func normalizeHost(host string) (string, error) {
	if host == "" {
		return "", fmt.Errorf("%w: empty host", ErrBadURL)
	}
	if strings.ContainsAny(host, "[]:") {
		// A colon is either an IPv6 literal or a port; brackets only enclose IPv6.
		h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if i := strings.IndexByte(h, '%'); i >= 0 {
			h = h[:i] // zone: "fe80::1%eth0"
		}
		if _, err := netip.ParseAddr(h); err == nil || net.ParseIP(h) != nil || strings.HasPrefix(host, "[") {
			return "", fmt.Errorf("%w: %s", ErrIPLiteral, quoteHost(host))
		}
		return "", fmt.Errorf("%w: invalid host %s", ErrBadURL, quoteHost(host))
	}
	name, ok := asciiLower(host)
	if !ok {
		return "", fmt.Errorf("%w: invalid host %s", ErrBadURL, quoteHost(host))
	}
	name = strings.TrimSuffix(name, ".")
	if len(name) == 0 || len(name) > maxNameLen {
		return "", fmt.Errorf("%w: invalid host %s", ErrBadURL, quoteHost(host))
	}
	for label := range strings.SplitSeq(name, ".") {
		if len(label) == 0 || len(label) > maxLabelLen {
			return "", fmt.Errorf("%w: invalid host %s", ErrBadURL, quoteHost(host))
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(isLowerAlnum(c) || c == '-' || c == '_') {
				return "", fmt.Errorf("%w: invalid host %s", ErrBadURL, quoteHost(host))
			}
		}
	}
	if endsInNumber(name) {
		return "", fmt.Errorf("%w: %s", ErrIPLiteral, quoteHost(host))
	}
	return name, nil
}

// endsInNumber reports whether the last label of name is a number in any
// base inet_aton accepts (decimal, 0-prefixed octal, 0x-prefixed hex, also
// the bare "0x"). Such names are IPv4 literals to browsers (WHATWG URL
// "ends in a number") and to C resolvers, so they are never host names.
func endsInNumber(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") {
		for i := 2; i < len(last); i++ {
			if !isHex(last[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			return false
		}
	}
	return true
}

// asciiLower lower-cases s, refusing any byte outside printable ASCII. It does
// not use strings.ToLower, which maps U+212A KELVIN SIGN to "k" and would let
// a non-ASCII name match an ASCII pattern.
func asciiLower(s string) (string, bool) {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c < 0x21 || c > 0x7e:
			return "", false
		case 'A' <= c && c <= 'Z':
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b), true
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// quoteHost quotes a host for an error message, bounded in length.
func quoteHost(h string) string {
	if len(h) > maxNameLen+2 {
		h = h[:maxNameLen+2] + "..."
	}
	return fmt.Sprintf("%q", h)
}
