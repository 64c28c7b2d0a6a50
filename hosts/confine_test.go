package hosts_test

import (
	"errors"
	"testing"

	"github.com/onbehalf/onbehalf/hosts"
)

// TestResolveConfinesPath feeds relative references that try to leave the
// base path, switch hosts, or split the request, in every encoding.
func TestResolveConfinesPath(t *testing.T) {
	base := mustURL(t, "https://api.example.com/api")
	tests := []struct {
		ref  string
		want error
		why  string
	}{
		// Dot-segments in every encoding: leaving the base path.
		{"../admin", hosts.ErrPathEscape, "parent segment"},
		{"v1/../../admin", hosts.ErrPathEscape, "parent segment deeper in"},
		{"v1/..", hosts.ErrPathEscape, "trailing parent segment"},
		{"./v1", hosts.ErrPathEscape, "current segment"},
		{"v1/./x", hosts.ErrPathEscape, "inner current segment"},
		{"/..", hosts.ErrPathEscape, "parent right after the leading slash"},
		{"%2e%2e/admin", hosts.ErrPathEscape, "encoded dots"},
		{"%2E%2e/admin", hosts.ErrPathEscape, "mixed-case encoded dots"},
		{".%2e/admin", hosts.ErrPathEscape, "half-encoded dots"},
		{"%2e./admin", hosts.ErrPathEscape, "half-encoded dots, other half"},
		{"%252e%252e/admin", hosts.ErrPathEscape, "double-encoded dots (servers that decode twice)"},
		{"%25252e%25252e/admin", hosts.ErrPathEscape, "triple-encoded dots"},
		{"%%32%65%%32%65/admin", hosts.ErrBadURL, "nested encoding %%32%65"},
		{"..;/admin", hosts.ErrPathEscape, "Tomcat path parameter on a parent segment"},
		{"..%3b/admin", hosts.ErrPathEscape, "encoded Tomcat path parameter"},
		{"...", hosts.ErrPathEscape, "dots-only segment (Windows trims trailing dots)"},
		{"..%20/admin", hosts.ErrPathEscape, "parent with trailing space (Windows trims it)"},
		{"%c0%ae%c0%ae/admin", hosts.ErrBadURL, "overlong UTF-8 dots (IIS)"},
		{"%u002e%u002e/admin", hosts.ErrBadURL, "IIS %u encoding"},
		// Encoded slashes and backslashes.
		{"v1%2f..%2fadmin", hosts.ErrPathEscape, "encoded slash"},
		{"v1%2Fadmin", hosts.ErrPathEscape, "upper-case encoded slash"},
		{"v1%252fadmin", hosts.ErrPathEscape, "double-encoded slash"},
		{"v1%5cadmin", hosts.ErrPathEscape, "encoded backslash"},
		{"v1%5Cadmin", hosts.ErrPathEscape, "upper-case encoded backslash"},
		{"v1\\..\\admin", hosts.ErrPathEscape, "literal backslash"},
		{"%c0%af", hosts.ErrBadURL, "overlong UTF-8 slash"},
		// Host switches from a relative reference.
		{"//evil.com/x", hosts.ErrPathEscape, "protocol-relative reference"},
		{"///evil.com/x", hosts.ErrPathEscape, "protocol-relative with extra slash"},
		{"\\\\evil.com", hosts.ErrPathEscape, "backslash protocol-relative (browsers read it as //)"},
		{"/\\evil.com", hosts.ErrPathEscape, "mixed slash and backslash"},
		{"https:\\\\evil.com", hosts.ErrPathEscape, "backslashes after the scheme"},
		// Control characters: request splitting and truncation.
		{"v1/%00", hosts.ErrBadURL, "encoded NUL"},
		{"v1/%0d%0aHost:%20evil.com", hosts.ErrBadURL, "encoded CRLF header injection"},
		{"v1/%0a", hosts.ErrBadURL, "encoded LF"},
		{"v1/x\r\nHost: evil.com", hosts.ErrBadURL, "raw CRLF"},
		{"v1/\x00", hosts.ErrBadURL, "raw NUL"},
		{"v1/\x7f", hosts.ErrBadURL, "raw DEL"},
		{"v1/%250a", hosts.ErrBadURL, "double-encoded LF"},
		{"v1?x=1 HTTP/1.1\r\n", hosts.ErrBadURL, "request line splitting through the query"},
		{"v1?x= 1", hosts.ErrBadURL, "raw space in the query, sent verbatim"},
		{"v1#frag", hosts.ErrBadURL, "fragment"},
		{"v1/%zz", hosts.ErrBadURL, "malformed percent-encoding"},
		{"v1/%", hosts.ErrBadURL, "truncated percent-encoding"},
		{"v1/\xff", hosts.ErrBadURL, "invalid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			got, err := hosts.Resolve(base, tt.ref, nil)
			if err == nil {
				t.Fatalf("Resolve(%q) = %q, want %v", tt.ref, got, tt.want)
			}
			if !errors.Is(err, tt.want) || countSentinels(err) != 1 {
				t.Fatalf("Resolve(%q) = %v, want %v", tt.ref, err, tt.want)
			}
		})
	}
}

func TestResolveRawPath(t *testing.T) {
	base := mustURL(t, "https://api.example.com/api")
	got, err := hosts.Resolve(base, "v1/items/%40me/a%20b", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Path != "/api/v1/items/@me/a b" {
		t.Fatalf("Path = %q", got.Path)
	}
	if got.EscapedPath() != "/api/v1/items/%40me/a%20b" {
		t.Fatalf("EscapedPath = %q", got.EscapedPath())
	}
	if got.RawPath != "/api/v1/items/%40me/a%20b" {
		t.Fatalf("RawPath = %q", got.RawPath)
	}
	plain, err := hosts.Resolve(base, "v1/items", nil)
	if err != nil {
		t.Fatal(err)
	}
	if plain.RawPath != "" {
		t.Fatalf("RawPath = %q, want empty for the default encoding", plain.RawPath)
	}
}

func TestResolveRawBytesReencoded(t *testing.T) {
	base := mustURL(t, "https://api.example.com/api")
	got, err := hosts.Resolve(base, "files/a b/caf\u00e9", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.RawPath != "" || got.EscapedPath() != "/api/files/a%20b/caf%C3%A9" {
		t.Fatalf("RawPath = %q, EscapedPath = %q", got.RawPath, got.EscapedPath())
	}
}
