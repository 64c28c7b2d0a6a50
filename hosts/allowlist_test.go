package hosts_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/hosts"
)

func TestAllowlistAllows(t *testing.T) {
	a, err := hosts.NewAllowlist("api.example.com", "*.googleapis.com", "*.xn--bcher-kva.example", "Slack.COM.")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want bool
		why  string
	}{
		{"api.example.com", true, "exact name"},
		{"API.EXAMPLE.COM", true, "matching is case-insensitive"},
		{"api.example.com.", true, "one trailing dot is ignored"},
		{"slack.com", true, "pattern given in upper case with trailing dot"},
		{"sheets.googleapis.com", true, "wildcard, one more label"},
		{"a.b.googleapis.com", true, "wildcard, several more labels"},
		{"www.xn--bcher-kva.example", true, "punycode IDN under a wildcard"},
		{"api.example.com..", false, "two trailing dots: empty label"},
		{"example.com", false, "exact pattern does not cover the parent"},
		{"x.api.example.com", false, "exact pattern does not cover subdomains"},
		{"googleapis.com", false, "wildcard never matches the bare suffix"},
		{"evilgoogleapis.com", false, "suffix without a label boundary"},
		{"googleapis.com.evil.com", false, "allowed name as a prefix of an attacker's name"},
		{"sheets.googleapis.com.evil.com", false, "allowed name followed by attacker's suffix"},
		{".googleapis.com", false, "empty label in front of the suffix"},
		{"a..googleapis.com", false, "empty inner label"},
		{"api.example.com:443", false, "host with port: callers pass hosts without port"},
		{"api.example.com@evil.com", false, "userinfo trick"},
		{"evil.com#.googleapis.com", false, "fragment trick"},
		{"evil.com/.googleapis.com", false, "path trick"},
		{"evil.com%2f.googleapis.com", false, "encoded slash trick"},
		{"evil.com\x00.googleapis.com", false, "NUL truncation trick"},
		{"\u212Api.example.com", false, "Kelvin sign, which strings.ToLower maps to k"},
		{"www.b\u00fccher.example", false, "raw non-ASCII (only punycode is matched)"},
		{"sheets\uff0egoogleapis.com", false, "fullwidth full stop"},
		{"127.0.0.1", false, "IP literal"},
		{"", false, "empty host"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			if got := a.Allows(tt.host); got != tt.want {
				t.Fatalf("Allows(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
}

func TestAllowlistEmpty(t *testing.T) {
	var nilList *hosts.Allowlist
	empty, err := hosts.NewAllowlist()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*hosts.Allowlist{nilList, empty, {}} {
		if a.Allows("example.com") {
			t.Fatalf("an empty allowlist allowed example.com")
		}
		if got := a.Patterns(); len(got) != 0 {
			t.Fatalf("Patterns() = %v, want none", got)
		}
	}
}

func TestNewAllowlistRejects(t *testing.T) {
	tests := []struct {
		pattern string
		why     string
	}{
		{"", "empty pattern"},
		{"*", "bare wildcard"},
		{"*.com", "wildcard over a single label (a whole TLD)"},
		{"*example.com", "wildcard not a whole label"},
		{"a.*.example.com", "wildcard not leading"},
		{"*.*.example.com", "two wildcards"},
		{"https://api.example.com", "scheme"},
		{"api.example.com:443", "port"},
		{"api.example.com/v1", "path"},
		{"user@api.example.com", "userinfo"},
		{"127.0.0.1", "IPv4 literal"},
		{"0x7f.1", "inet_aton literal"},
		{"*.10.0.0.1", "wildcard over an IP literal"},
		{"[::1]", "IPv6 literal"},
		{"::1", "bare IPv6"},
		{"a..example.com", "empty label"},
		{"-a.example.com", "leading hyphen"},
		{"a-.example.com", "trailing hyphen"},
		{"a_b.example.com", "underscore"},
		{strings.Repeat("a", 64) + ".com", "label over 63 bytes"},
		{"b\u00fccher.example", "raw non-ASCII"},
		{"\u212Aelvin.example", "Kelvin sign"},
		{"api.example.com ", "trailing space"},
		{"api.example.com%00", "percent-encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			_, err := hosts.NewAllowlist("ok.example.com", tt.pattern)
			if err == nil {
				t.Fatalf("NewAllowlist(%q) succeeded, want error", tt.pattern)
			}
			if tt.pattern != "" && !strings.Contains(err.Error(), strings.TrimSpace(tt.pattern)[:1]) {
				t.Fatalf("error %q does not name the pattern", err)
			}
		})
	}
}

func TestAllowlistPatterns(t *testing.T) {
	a, err := hosts.NewAllowlist("API.example.com.", "*.Example.org", "api.example.com")
	if err != nil {
		t.Fatal(err)
	}
	got := a.Patterns()
	want := []string{"api.example.com", "*.example.org"}
	if !slices.Equal(got, want) {
		t.Fatalf("Patterns() = %v, want %v", got, want)
	}
	got[0] = "evil.com"
	if a.Allows("evil.com") {
		t.Fatal("modifying Patterns() changed the allowlist")
	}
}

// FuzzAllowlist asserts matching invariants: a match is either an exact
// pattern or on a label boundary below a wildcard, never the bare suffix.
func FuzzAllowlist(f *testing.F) {
	f.Add("*.example.com", "a.example.com")
	f.Add("*.example.com", "example.com")
	f.Add("*.example.com", "evilexample.com")
	f.Add("*.example.com", "example.com.evil.com")
	f.Add("api.example.com", "API.example.com.")
	f.Add("api.example.com", "\u212Api.example.com")
	f.Add("*.example.com", "a..example.com")
	f.Add("*.1.2.3", "0.1.2.3")
	f.Fuzz(func(t *testing.T, pattern, host string) {
		a, err := hosts.NewAllowlist(pattern)
		if err != nil {
			return
		}
		if !a.Allows(host) {
			return
		}
		if hosts.CheckHost(host) != nil {
			t.Fatalf("pattern %q allowed invalid host %q", pattern, host)
		}
		name := strings.TrimSuffix(strings.ToLower(host), ".")
		p := a.Patterns()[0]
		if suffix, ok := strings.CutPrefix(p, "*."); ok {
			if !strings.HasSuffix(name, "."+suffix) || len(name) <= len(suffix)+1 {
				t.Fatalf("pattern %q allowed %q off a label boundary", pattern, host)
			}
		} else if name != p {
			t.Fatalf("pattern %q allowed %q", pattern, host)
		}
	})
}
