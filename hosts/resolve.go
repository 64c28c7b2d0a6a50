package hosts

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Policy says which targets one integration may reach. Build it once per
// integration at configuration time; it is read-only afterwards. A nil
// *Policy is the zero Policy: only the base URL's host, over https (or the
// base URL's own scheme), on default ports (or the base URL's own port).
type Policy struct {
	// Allow lists extra permitted hosts. The base URL's host is always
	// permitted. Nil: no extra hosts.
	Allow *Allowlist
	// Schemes lists permitted schemes for absolute references, lower case.
	// Only "http" and "https" can ever be permitted. Nil: {"https"}. The base
	// URL's own scheme is always permitted for the base URL's own host.
	Schemes []string
	// Ports lists permitted explicit ports. The scheme's default port (443
	// for https, 80 for http) is always permitted, and so is the base URL's
	// own explicit port for the base URL's host. Nil: no other ports.
	Ports []int
}

func (p *Policy) schemeAllowed(s string) bool {
	if p == nil || p.Schemes == nil {
		return s == "https"
	}
	return slices.Contains(p.Schemes, s)
}

func (p *Policy) portAllowed(port int) bool {
	return p != nil && slices.Contains(p.Ports, port)
}

func (p *Policy) allows(host string) bool { return p != nil && p.Allow.Allows(host) }

// wellKnownSchemes are treated as absolute references even without a slash
// after the colon, so "javascript:alert(1)" is refused with ErrScheme rather
// than joined under the base path. Any other "word:rest" without a slash
// ("people:batchGet", "tasks:42") is a relative path.
var wellKnownSchemes = []string{
	"http", "https", "file", "ftp", "gopher", "dict", "ldap", "ldaps", "tftp", "sftp", "ssh",
	"telnet", "smb", "jar", "netdoc", "javascript", "vbscript", "data", "blob", "about",
	"mailto", "tel", "ws", "wss", "unix", "redis", "mongodb", "postgres", "mysql",
}

// Resolve turns the caller's reference into the target URL.
//
// base is the integration's base URL for this connection: trusted, already
// templated, http or https. ref is the raw, still percent-encoded API path
// the caller gave. The result is a new URL; base is not modified.
//
// A relative ref ("v1/charges", "/v1/charges", "chat.postMessage",
// "tasks/42?x=1") is joined under base's path, keeping its encoded form
// (Path and RawPath are both set) and its query as RawQuery (appended to a
// query base already has, with "&"). A relative ref whose first segment
// holds a colon is relative unless the word before the colon is a well-known
// scheme or is followed by "/".
//
// An absolute ref ("https://sheets.googleapis.com/v4/x", or the cleaned form
// "https:/sheets.googleapis.com/v4/x" that path-cleaning routers produce)
// must name base's host or a host p.Allow permits, a permitted scheme and
// port, no userinfo, and a host name rather than an IP literal in any
// encoding. Its host is returned lower case without a trailing dot.
//
// Both kinds are refused (ErrPathEscape) for dot-segments ("..", ".",
// "%2e%2e", ".%2e", "%252e%252e", "..;x"), encoded slashes and backslashes
// ("%2f", "%5c", "%252f") and literal backslashes before the query; a
// relative ref starting with "//" (protocol-relative) is refused the same
// way. Path checks run at every level of percent-decoding. Control bytes raw
// or encoded in the path ("%00", "%0a"), raw control bytes and spaces in the
// query (which is sent verbatim), '#', malformed percent-encoding in the path
// and invalid UTF-8 after decoding are refused with ErrBadURL.
// Internationalized hosts must be given in punycode. An absolute ref never
// names an IP literal, even when base's host is one (httptest servers): such
// a base serves relative refs only.
//
// Every error wraps exactly one of the package's sentinel errors and names at
// most a host, never a path or query.
func Resolve(base *url.URL, ref string, p *Policy) (*url.URL, error) {
	if base == nil || base.Host == "" || base.Opaque != "" || base.User != nil ||
		(base.Scheme != "http" && base.Scheme != "https") {
		return nil, fmt.Errorf("%w: invalid base URL", ErrBadURL)
	}
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	if scheme, rest, ok := splitScheme(ref); ok {
		return resolveAbsolute(base, strings.ToLower(scheme), rest, p)
	}
	return resolveRelative(base, ref)
}

// checkRef applies the checks that hold for any reference. A backslash is
// refused before the query, where some parsers read it as a slash
// ("https:\\evil.com", "\\evil.com"); in the query it is data.
func checkRef(ref string) error {
	if !utf8.ValidString(ref) {
		return fmt.Errorf("%w: invalid UTF-8", ErrBadURL)
	}
	inQuery := false
	for i := 0; i < len(ref); i++ {
		switch c := ref[i]; {
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("%w: control character", ErrBadURL)
		case c == '#':
			return fmt.Errorf("%w: fragment", ErrBadURL)
		case c == '?':
			inQuery = true
		case c == '\\' && !inQuery:
			return fmt.Errorf("%w: backslash", ErrPathEscape)
		}
	}
	return nil
}

// splitScheme reports whether ref is absolute, and splits it at the colon.
func splitScheme(ref string) (scheme, rest string, ok bool) {
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			scheme, rest = ref[:i], ref[i+1:]
			if strings.HasPrefix(rest, "/") || slices.Contains(wellKnownSchemes, strings.ToLower(scheme)) {
				return scheme, rest, true
			}
			return "", "", false
		default:
			return "", "", false
		}
	}
	return "", "", false
}

func resolveRelative(base *url.URL, ref string) (*url.URL, error) {
	rawPath, rawQuery, _ := strings.Cut(ref, "?")
	if strings.HasPrefix(rawPath, "//") {
		return nil, fmt.Errorf("%w: protocol-relative reference", ErrPathEscape)
	}
	rawPath = strings.TrimPrefix(rawPath, "/")
	if err := checkPath(rawPath); err != nil {
		return nil, err
	}
	if err := checkQuery(rawQuery); err != nil {
		return nil, err
	}
	basePath := base.EscapedPath()
	joined := basePath
	if rawPath != "" {
		joined = strings.TrimSuffix(basePath, "/") + "/" + rawPath
	}
	u, err := buildURL(base.Scheme, base.Host, joined, joinQuery(base.RawQuery, rawQuery))
	if err != nil {
		return nil, err
	}
	// Defense in depth: the result must be on base's origin, under base's path.
	if u.Scheme != base.Scheme || u.Host != base.Host ||
		!underPath(basePath, u.EscapedPath()) || !underPath(base.Path, u.Path) {
		return nil, fmt.Errorf("%w: result leaves the base path", ErrPathEscape)
	}
	return u, nil
}

func resolveAbsolute(base *url.URL, scheme, rest string, p *Policy) (*url.URL, error) {
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("%w: only http and https", ErrScheme)
	}
	// "https://host" or the cleaned "https:/host"; never "https:host" or "https:///host".
	switch {
	case strings.HasPrefix(rest, "//"):
		rest = rest[2:]
	case strings.HasPrefix(rest, "/"):
		rest = rest[1:]
	default:
		return nil, fmt.Errorf("%w: absolute URL without host", ErrBadURL)
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, pathQuery := rest[:end], rest[end:]
	if strings.Contains(authority, "@") {
		return nil, fmt.Errorf("%w", ErrUserinfo)
	}
	host, portStr, hasPort := authority, "", false
	if strings.Count(authority, ":") == 1 && !strings.HasPrefix(authority, "[") {
		host, portStr, hasPort = strings.Cut(authority, ":")
	}
	name, err := normalizeHost(host)
	if err != nil {
		return nil, err
	}
	baseName, _ := normalizeBaseHost(base.Hostname())
	isBase := name == baseName
	if !isBase && !p.allows(name) {
		return nil, fmt.Errorf("%w: %s", ErrHostNotAllowed, quoteHost(name))
	}
	if !(isBase && scheme == base.Scheme) && !p.schemeAllowed(scheme) {
		return nil, fmt.Errorf("%w: %s for %s", ErrScheme, scheme, quoteHost(name))
	}
	hostPort := name
	if hasPort {
		port, err := parsePort(portStr)
		if err != nil {
			return nil, err
		}
		basePort, _ := strconv.Atoi(base.Port())
		if port != defaultPort(scheme) && !(isBase && port == basePort) && !p.portAllowed(port) {
			return nil, fmt.Errorf("%w: %d for %s", ErrPort, port, quoteHost(name))
		}
		hostPort = name + ":" + strconv.Itoa(port)
	}
	rawPath, rawQuery, _ := strings.Cut(pathQuery, "?")
	if strings.HasPrefix(rawPath, "//") {
		// "https://good.com//evil.com/x": a request target that reads as a host.
		return nil, fmt.Errorf("%w: path starts with //", ErrPathEscape)
	}
	if err := checkPath(rawPath); err != nil {
		return nil, err
	}
	if err := checkQuery(rawQuery); err != nil {
		return nil, err
	}
	u, err := buildURL(scheme, hostPort, rawPath, rawQuery)
	if err != nil {
		return nil, err
	}
	// Defense in depth: the URL the transport will use must parse back to the
	// same scheme and host.
	back, err := url.Parse(u.String())
	if err != nil || back.Scheme != scheme || back.Host != hostPort || back.User != nil {
		return nil, fmt.Errorf("%w: inconsistent URL for %s", ErrBadURL, quoteHost(name))
	}
	return u, nil
}

// normalizeBaseHost normalizes base's host for comparison. The base is
// trusted and may be an IP literal (httptest servers); an absolute ref can
// never name an IP literal, so such a base host simply never matches.
func normalizeBaseHost(h string) (string, bool) {
	name, ok := asciiLower(h)
	return strings.TrimSuffix(name, "."), ok
}

func parsePort(s string) (int, error) {
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("%w: invalid port", ErrBadURL)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: invalid port", ErrBadURL)
		}
	}
	n, _ := strconv.Atoi(s)
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%w: %d", ErrPort, n)
	}
	return n, nil
}

func defaultPort(scheme string) int {
	if scheme == "http" {
		return 80
	}
	return 443
}

// buildURL makes a URL from trusted parts and an escaped path, setting Path
// and RawPath the way url.Parse would.
func buildURL(scheme, host, rawPath, rawQuery string) (*url.URL, error) {
	path, err := url.PathUnescape(rawPath)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid percent-encoding", ErrBadURL)
	}
	u := &url.URL{Scheme: scheme, Host: host, Path: path, RawQuery: rawQuery}
	if u.EscapedPath() != rawPath {
		// Keep the caller's encoding ("%40me", "%3F") when it is a valid
		// encoding of Path; otherwise (raw spaces, raw non-ASCII) the
		// default encoding is the one sent.
		u.RawPath = rawPath
		if u.EscapedPath() != rawPath {
			u.RawPath = ""
		}
	}
	return u, nil
}

func joinQuery(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "&" + b
}

// underPath reports whether p is base or below it on a segment boundary.
func underPath(base, p string) bool {
	base = strings.TrimSuffix(base, "/")
	return p == base || strings.HasPrefix(p, base+"/")
}
