package hosts_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/hosts"
)

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func testPolicy(t testing.TB) *hosts.Policy {
	t.Helper()
	allow, err := hosts.NewAllowlist("*.googleapis.com", "files.example.com")
	if err != nil {
		t.Fatal(err)
	}
	return &hosts.Policy{Allow: allow, Ports: []int{8443}}
}

func TestResolveAccepts(t *testing.T) {
	p := testPolicy(t)
	tests := []struct {
		base, ref string
		want      string // u.String()
		wantPath  string // decoded Path, "" to skip
	}{
		{"https://api.example.com/api", "v1/charges", "https://api.example.com/api/v1/charges", "/api/v1/charges"},
		{"https://api.example.com/api", "/v1/charges", "https://api.example.com/api/v1/charges", ""},
		{"https://api.example.com/api/", "v1/charges", "https://api.example.com/api/v1/charges", ""},
		{"https://slack.com/api", "chat.postMessage", "https://slack.com/api/chat.postMessage", ""},
		{"https://api.example.com/api", "tasks/42?x=1", "https://api.example.com/api/tasks/42?x=1", ""},
		{"https://api.example.com", "v1/x", "https://api.example.com/v1/x", ""},
		{"https://api.example.com/api", "", "https://api.example.com/api", ""},
		{"https://api.example.com/api", "?limit=5", "https://api.example.com/api?limit=5", ""},
		{"https://api.example.com/api?v=2", "x?y=1", "https://api.example.com/api/x?v=2&y=1", ""},
		{"http://127.0.0.1:4321/api", "v1/x", "http://127.0.0.1:4321/api/v1/x", ""},
		// Legitimate encodings stay encoded.
		{"https://api.example.com/api", "files/a%20b.txt", "https://api.example.com/api/files/a%20b.txt", "/api/files/a b.txt"},
		{"https://api.example.com/api", "search?q=a/b", "https://api.example.com/api/search?q=a/b", ""},
		{"https://api.example.com/api", `search?q=a\\b`, `https://api.example.com/api/search?q=a\\b`, ""},
		{"https://api.example.com/api", "v1/items/%40me", "https://api.example.com/api/v1/items/%40me", "/api/v1/items/@me"},
		{"https://api.example.com/api", "v1/a%3Fb", "https://api.example.com/api/v1/a%3Fb", "/api/v1/a?b"},
		{"https://api.example.com/api", "v1/100%25", "https://api.example.com/api/v1/100%25", "/api/v1/100%"},
		{"https://api.example.com/api", "v1/caf%C3%A9", "https://api.example.com/api/v1/caf%C3%A9", "/api/v1/café"},
		{"https://api.example.com/api", "v1/..x/x..", "https://api.example.com/api/v1/..x/x..", ""},
		{"https://api.example.com/api", "v1/.well-known", "https://api.example.com/api/v1/.well-known", ""},
		{"https://api.example.com/api", "a.b.c/file.tar.gz", "https://api.example.com/api/a.b.c/file.tar.gz", ""},
		{"https://people.googleapis.com/v1", "people:batchGet", "https://people.googleapis.com/v1/people:batchGet", ""},
		{"https://api.example.com/api", "v1/spreadsheets/1:batchUpdate", "https://api.example.com/api/v1/spreadsheets/1:batchUpdate", ""},
		{"https://api.example.com/api", "q?filter=name%20eq%20%27x%27&a[]=1", "https://api.example.com/api/q?filter=name%20eq%20%27x%27&a[]=1", ""},
		// Absolute references.
		{"https://sheets.googleapis.com/v4", "https://sheets.googleapis.com/v4/spreadsheets", "https://sheets.googleapis.com/v4/spreadsheets", ""},
		{"https://api.example.com/api", "https://sheets.googleapis.com/v4/x", "https://sheets.googleapis.com/v4/x", ""},
		{"https://api.example.com/api", "https:/sheets.googleapis.com/v4/x", "https://sheets.googleapis.com/v4/x", ""},
		{"https://api.example.com/api", "HTTPS://Sheets.GoogleAPIs.com./v4/x?a=1", "https://sheets.googleapis.com/v4/x?a=1", ""},
		{"https://api.example.com/api", "https://api.example.com/other", "https://api.example.com/other", ""},
		{"https://api.example.com/api", "https://files.example.com", "https://files.example.com", ""},
		{"https://api.example.com/api", "https://files.example.com:443/x", "https://files.example.com:443/x", ""},
		{"https://api.example.com/api", "https://files.example.com:8443/x", "https://files.example.com:8443/x", ""},
		{"https://api.example.com/api", "https://files.example.com:08443/x", "https://files.example.com:8443/x", ""},
		{"https://api.example.com/api", "https://xn--bcher-kva.googleapis.com/", "https://xn--bcher-kva.googleapis.com/", ""},
		{"http://localhost:9000/api", "http://localhost:9000/x", "http://localhost:9000/x", ""},
		{"http://localhost:9000/api", "http:/localhost:9000/x", "http://localhost:9000/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			base := mustURL(t, tt.base)
			before := base.String()
			got, err := hosts.Resolve(base, tt.ref, p)
			if err != nil {
				t.Fatalf("Resolve(%q, %q) = %v", tt.base, tt.ref, err)
			}
			if got.String() != tt.want {
				t.Fatalf("Resolve(%q, %q) = %q, want %q", tt.base, tt.ref, got, tt.want)
			}
			if tt.wantPath != "" && got.Path != tt.wantPath {
				t.Fatalf("Path = %q, want %q", got.Path, tt.wantPath)
			}
			if base.String() != before {
				t.Fatalf("Resolve modified base: %q", base)
			}
			// What the transport sends must parse back to the same URL.
			back := mustURL(t, got.String())
			if back.Host != got.Host || back.EscapedPath() != got.EscapedPath() || back.RawQuery != got.RawQuery {
				t.Fatalf("round trip %q -> %q", got, back)
			}
		})
	}
}

func TestResolveRejects(t *testing.T) {
	p := testPolicy(t)
	const base = "https://api.example.com/api"
	tests := []struct {
		ref  string
		want error
		why  string
	}{
		// Hosts.
		{"https://evil.com/x", hosts.ErrHostNotAllowed, "host not in the allowlist"},
		{"https:/evil.com/x", hosts.ErrHostNotAllowed, "cleaned form, host not allowed"},
		{"https://googleapis.com/x", hosts.ErrHostNotAllowed, "bare wildcard suffix"},
		{"https://evilgoogleapis.com/x", hosts.ErrHostNotAllowed, "suffix without label boundary"},
		{"https://sheets.googleapis.com.evil.com/x", hosts.ErrHostNotAllowed, "allowed name as prefix"},
		{"https://api.example.com.evil.com/x", hosts.ErrHostNotAllowed, "base host as prefix"},
		{"https://evil.com#@sheets.googleapis.com/", hosts.ErrBadURL, "fragment hides the real host"},
		{"https://evil.com?@sheets.googleapis.com/", hosts.ErrHostNotAllowed, "query hides the real host"},
		{"https://evil.com/@sheets.googleapis.com/", hosts.ErrHostNotAllowed, "path hides the real host"},
		{"https://sheets.googleapis.com@evil.com/", hosts.ErrUserinfo, "userinfo: real host is evil.com"},
		{"https://api.example.com@evil.com/", hosts.ErrUserinfo, "userinfo with base host"},
		{"https://user:pass@sheets.googleapis.com/", hosts.ErrUserinfo, "credentials in URL"},
		{"https://@sheets.googleapis.com/", hosts.ErrUserinfo, "empty userinfo"},
		{"https://sheets.googleapis.com%40evil.com/", hosts.ErrBadURL, "encoded at-sign"},
		{"https://evil.com%2f.googleapis.com/", hosts.ErrBadURL, "encoded slash in host"},
		{"https://evil.com%23.googleapis.com/", hosts.ErrBadURL, "encoded hash in host"},
		{"https://sheets\uff0egoogleapis.com/", hosts.ErrBadURL, "fullwidth full stop"},
		{"https://\u212Api.example.com/", hosts.ErrBadURL, "Kelvin sign"},
		{"https://b\u00fccher.googleapis.com/", hosts.ErrBadURL, "raw IDN (punycode required)"},
		{"https://sheets.googleapis.com../x", hosts.ErrBadURL, "two trailing dots"},
		{"https:///x", hosts.ErrBadURL, "empty host"},
		{"https://", hosts.ErrBadURL, "empty authority"},
		{"https:", hosts.ErrBadURL, "scheme only"},
		{"https:evil.com/x", hosts.ErrBadURL, "no slash after the scheme"},
		{"https://sheets.googleapis.com:/x", hosts.ErrBadURL, "empty port"},
		// IP literals in every encoding.
		{"https://127.0.0.1/", hosts.ErrIPLiteral, "dotted decimal"},
		{"https://127.1/", hosts.ErrIPLiteral, "two-part inet_aton"},
		{"https://2130706433/", hosts.ErrIPLiteral, "decimal integer"},
		{"https://0x7f000001/", hosts.ErrIPLiteral, "hex integer"},
		{"https://0x7f.1/", hosts.ErrIPLiteral, "hex part"},
		{"https://0177.0.0.1/", hosts.ErrIPLiteral, "octal part"},
		{"https://169.254.169.254/latest/meta-data/", hosts.ErrIPLiteral, "metadata service"},
		{"https://[::1]/", hosts.ErrIPLiteral, "IPv6 loopback"},
		{"https://[::ffff:127.0.0.1]/", hosts.ErrIPLiteral, "IPv4-mapped IPv6"},
		{"https://[fe80::1%25eth0]/", hosts.ErrIPLiteral, "IPv6 with zone"},
		{"https://[::1]:443/", hosts.ErrIPLiteral, "IPv6 with port"},
		{"https://::1/", hosts.ErrIPLiteral, "unbracketed IPv6"},
		{"https://%31%32%37.0.0.1/", hosts.ErrBadURL, "percent-encoded IP"},
		// Schemes.
		{"http://sheets.googleapis.com/x", hosts.ErrScheme, "downgrade to http"},
		{"http://api.example.com/x", hosts.ErrScheme, "downgrade to http on the base host"},
		{"file:///etc/passwd", hosts.ErrScheme, "file"},
		{"gopher://evil.com:25/_HELO", hosts.ErrScheme, "gopher (SMTP smuggling)"},
		{"javascript:alert(1)", hosts.ErrScheme, "javascript"},
		{"data:text/html,x", hosts.ErrScheme, "data"},
		{"ftp://sheets.googleapis.com/", hosts.ErrScheme, "ftp"},
		{"dict://evil.com:11211/stats", hosts.ErrScheme, "dict"},
		{"ws://sheets.googleapis.com/", hosts.ErrScheme, "websocket"},
		{"x-custom://sheets.googleapis.com/", hosts.ErrScheme, "unknown scheme with authority"},
		// Ports.
		{"https://sheets.googleapis.com:22/", hosts.ErrPort, "port not permitted"},
		{"https://api.example.com:8080/", hosts.ErrPort, "other port on the base host"},
		{"https://sheets.googleapis.com:80/", hosts.ErrPort, "http's default port over https"},
		{"https://sheets.googleapis.com:65536/", hosts.ErrPort, "port out of range"},
		{"https://sheets.googleapis.com:0/", hosts.ErrPort, "port zero"},
		{"https://sheets.googleapis.com:443:443/", hosts.ErrBadURL, "two ports"},
		{"https://sheets.googleapis.com:+443/", hosts.ErrBadURL, "signed port"},
		// Absolute references get the path checks too.
		{"https://sheets.googleapis.com/v4/../admin", hosts.ErrPathEscape, "dot-segment in absolute URL"},
		{"https://sheets.googleapis.com/v4/%2e%2e/admin", hosts.ErrPathEscape, "encoded dot-segment in absolute URL"},
		{"https://sheets.googleapis.com/v4%2fx", hosts.ErrPathEscape, "encoded slash in absolute URL"},
		{"https://sheets.googleapis.com/%0d%0a", hosts.ErrBadURL, "CRLF in absolute URL"},
		{"https://sheets.googleapis.com//evil.com/x", hosts.ErrPathEscape, "path that reads as a network-path reference"},
		{"https:/sheets.googleapis.com//evil.com/x", hosts.ErrPathEscape, "same, cleaned form"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			got, err := hosts.Resolve(mustURL(t, base), tt.ref, p)
			if err == nil {
				t.Fatalf("Resolve(%q) = %q, want %v", tt.ref, got, tt.want)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Resolve(%q) = %v, want %v", tt.ref, err, tt.want)
			}
			if n := countSentinels(err); n != 1 {
				t.Fatalf("error %q wraps %d sentinels, want 1", err, n)
			}
			if !strings.HasPrefix(err.Error(), "hosts: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			for _, secret := range []string{"admin", "pass", "etc", "HELO", "alert", "meta-data"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q leaks part of the path or userinfo", err)
				}
			}
		})
	}
}

var sentinels = []error{
	hosts.ErrHostNotAllowed, hosts.ErrIPLiteral, hosts.ErrScheme, hosts.ErrPort,
	hosts.ErrUserinfo, hosts.ErrPathEscape, hosts.ErrBadURL, hosts.ErrAddressDenied,
}

func countSentinels(err error) int {
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	return n
}

func TestResolvePolicy(t *testing.T) {
	base := mustURL(t, "https://api.example.com/api")
	allow, err := hosts.NewAllowlist("legacy.example.com")
	if err != nil {
		t.Fatal(err)
	}
	httpOK := &hosts.Policy{Allow: allow, Schemes: []string{"http", "https"}}
	if _, err := hosts.Resolve(base, "http://legacy.example.com/x", httpOK); err != nil {
		t.Fatalf("http permitted by Schemes: %v", err)
	}
	if _, err := hosts.Resolve(base, "http://legacy.example.com:8080/x", httpOK); !errors.Is(err, hosts.ErrPort) {
		t.Fatalf("port 8080 not in Ports: %v, want ErrPort", err)
	}
	ftp := &hosts.Policy{Allow: allow, Schemes: []string{"ftp"}}
	if _, err := hosts.Resolve(base, "ftp://legacy.example.com/x", ftp); !errors.Is(err, hosts.ErrScheme) {
		t.Fatalf("ftp can never be permitted: %v, want ErrScheme", err)
	}
	// A nil Policy: base host only, https only.
	if _, err := hosts.Resolve(base, "https://api.example.com/v2", nil); err != nil {
		t.Fatalf("nil Policy, base host: %v", err)
	}
	if _, err := hosts.Resolve(base, "https://legacy.example.com/v2", nil); !errors.Is(err, hosts.ErrHostNotAllowed) {
		t.Fatalf("nil Policy, other host: %v, want ErrHostNotAllowed", err)
	}
	// The base URL's own scheme and port are permitted for its host only.
	local := mustURL(t, "http://localhost:9000/api")
	if _, err := hosts.Resolve(local, "http://localhost:9001/x", nil); !errors.Is(err, hosts.ErrPort) {
		t.Fatalf("other port on base host: %v, want ErrPort", err)
	}
	// Bad bases.
	for _, b := range []*url.URL{nil, {}, mustURL(t, "ftp://x.example.com/"), mustURL(t, "/relative")} {
		if _, err := hosts.Resolve(b, "v1", nil); !errors.Is(err, hosts.ErrBadURL) {
			t.Fatalf("Resolve(base %v) = %v, want ErrBadURL", b, err)
		}
	}
}

// FuzzResolve asserts Resolve's invariants on arbitrary references: it never
// panics; every error wraps exactly one sentinel; every result is on the base
// host or an allowed host, with a permitted scheme, no dot-segment at any
// decoding level, and, for relative references, a path under the base path.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"v1/charges", "/v1/charges", "chat.postMessage", "tasks/42?x=1", "", "?a=b",
		"files/a%20b.txt", "search?q=a/b", "v1/items/%40me", "people:batchGet",
		"https://sheets.googleapis.com/v4/x", "https:/sheets.googleapis.com/v4/x",
		"http://sheets.googleapis.com/", "https://api.example.com/other",
		"../x", "%2e%2e/x", ".%2e/x", "%252e%252e/x", "a%2fb", "a%5cb", "a\\b",
		"//evil.com", "\\\\evil.com", "https://salesforce.com@evil.com/", "https:\\\\evil.com",
		"https://evil.com#@good.com", "https://EVIL.com./", "https://127.1/", "https://[::1]/",
		"https://0x7f.1/", "file:///etc/passwd", "gopher://x/", "javascript:alert(1)",
		"https://files.example.com:8443/x", "https://files.example.com:99999/x",
		"v1/%00", "v1/%0d%0a", "..;/x", "%c0%ae%c0%ae/", "https://sheets.googleapis.com/%2e%2e",
		"x:/y", "a%25%32%65", "https://a.googleapis.com?x", "https:/", "https://a.googleapis.com//evil.com",
		"%25%32%65%25%32%65/x", "a%25zz", "urn:x", "x:y", "search?q=a\\b", "files/a b/caf\u00e9",
	} {
		f.Add(s)
	}
	base := mustURL(f, "https://api.example.com/api/v1")
	p := testPolicy(f)
	f.Fuzz(func(t *testing.T, ref string) {
		u, err := hosts.Resolve(base, ref, p)
		if err != nil {
			if n := countSentinels(err); n != 1 {
				t.Fatalf("Resolve(%q) error %q wraps %d sentinels", ref, err, n)
			}
			if u != nil {
				t.Fatalf("Resolve(%q) returned both a URL and an error", ref)
			}
			return
		}
		if u.User != nil || u.Opaque != "" || u.Fragment != "" {
			t.Fatalf("Resolve(%q) = %q: userinfo, opaque or fragment", ref, u)
		}
		host := u.Hostname()
		if host != base.Hostname() && !p.Allow.Allows(host) {
			t.Fatalf("Resolve(%q) = %q: host not permitted", ref, u)
		}
		if host != base.Hostname() && hosts.CheckHost(host) != nil {
			t.Fatalf("Resolve(%q) = %q: invalid host", ref, u)
		}
		if strings.HasPrefix(u.EscapedPath(), "//") {
			t.Fatalf("Resolve(%q) = %q: path reads as a host", ref, u)
		}
		if u.Scheme != "https" {
			t.Fatalf("Resolve(%q) = %q: scheme not permitted", ref, u)
		}
		if port := u.Port(); port != "" && port != "443" && port != "8443" {
			t.Fatalf("Resolve(%q) = %q: port not permitted", ref, u)
		}
		// No dot-segment, at any level of decoding.
		for s, i := u.EscapedPath(), 0; i < 10; i++ {
			for seg := range strings.SplitSeq(s, "/") {
				if seg == "." || seg == ".." {
					t.Fatalf("Resolve(%q) = %q: dot-segment", ref, u)
				}
			}
			next, err := url.PathUnescape(s)
			if err != nil || next == s {
				break
			}
			s = next
		}
		// The URL as sent must parse back to the same origin.
		back, err := url.Parse(u.String())
		if err != nil || back.Host != u.Host || back.Scheme != u.Scheme {
			t.Fatalf("Resolve(%q) = %q: does not round-trip (%v)", ref, u, back)
		}
		if !strings.Contains(ref, ":") || strings.HasPrefix(ref, "/") {
			// Relative: same origin as base, under base's path.
			if u.Host != base.Host {
				t.Fatalf("Resolve(%q) = %q: relative ref switched host", ref, u)
			}
			if u.Path != "/api/v1" && !strings.HasPrefix(u.Path, "/api/v1/") {
				t.Fatalf("Resolve(%q) = %q: left the base path", ref, u)
			}
			if u.EscapedPath() != "/api/v1" && !strings.HasPrefix(u.EscapedPath(), "/api/v1/") {
				t.Fatalf("Resolve(%q) = %q: left the base path (escaped)", ref, u)
			}
		}
	})
}
