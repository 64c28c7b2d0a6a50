package middleware_test

import (
	"net/http/httptest"
	"testing"

	"github.com/onbehalf/onbehalf/middleware"
)

func TestStripPathSegments(t *testing.T) {
	cases := []struct {
		path    string
		n       int
		want    string
		wantRaw string
	}{
		{"/api/ob/projects/p/sdk/me", 2, "/projects/p/sdk/me", "/projects/p/sdk/me"},
		{"/api/ob/projects/p/sdk/proxy/x/a%2Fb", 2, "/projects/p/sdk/proxy/x/a/b", "/projects/p/sdk/proxy/x/a%2Fb"},
		{"/api/ob/projects/p/sdk/proxy/x/https://h/y", 2, "/projects/p/sdk/proxy/x/https://h/y", "/projects/p/sdk/proxy/x/https://h/y"},
		{"/api", 2, "/", "/"},
		{"/same", 0, "/same", "/same"},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", tc.path, nil)
		before := r.URL.String()
		got := middleware.StripPathSegments(r, tc.n)
		if got.URL.Path != tc.want || got.URL.EscapedPath() != tc.wantRaw {
			t.Errorf("%q minus %d: got %q (%q), want %q (%q)", tc.path, tc.n, got.URL.Path, got.URL.EscapedPath(), tc.want, tc.wantRaw)
		}
		if r.URL.String() != before {
			t.Errorf("%q: the inbound request was modified", tc.path)
		}
	}
}
