package middleware_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestSecurityCredentialHosts defends against credentials crossing hosts:
// a fully-qualified URL gets the credential only on a host the integration
// permits; a host it does not permit is refused before anything is dialed;
// and an upstream redirect is never followed (the credential would go with it),
// so the redirect's target receives nothing. Hosts are fake-DNS names that all
// live on loopback.
func TestSecurityCredentialHosts(t *testing.T) {
	dns := newFakeDNS(t)
	api := newRecorder(t)
	files := newRecorder(t)
	evil := newRecorder(t)
	for _, n := range []string{"api.test", "files.test", "evil.test"} {
		dns.set(n, "127.0.0.1")
	}
	port := func(r *recorder) string { return strconv.Itoa(portOf(r.base)) }
	e := envWith(t, []integrations.Config{{
		Type: "api", BaseURL: "http://api.test:" + port(api) + "/base", AllowedHosts: []string{"files.test"},
		AllowedSchemes: []string{"http"}, AllowedPorts: []int{portOf(files.base), portOf(evil.base)},
		AllowAddresses: []string{"127.0.0.0/8"},
		Auth:           integrations.SchemeConfig{Type: integrations.AuthAPIKey, Prefix: "Bearer "},
	}}, withFakeDNS(dns))
	connect(t, e, "api", tokens.Credential{APIKey: "cross-host-key"}, nil)

	t.Run("permitted other host gets the credential", func(t *testing.T) {
		resp := e.Do(t, "GET", e.ProxyURL("api", "http://files.test:"+port(files)+"/v1/file"), nil, nil)
		if body := readBody(t, resp); resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if got := files.last(t); got.Header.Get("Authorization") != "Bearer cross-host-key" || got.Path != "/v1/file" {
			t.Fatalf("files.test got %s with Authorization %q", got.Path, got.Header.Get("Authorization"))
		}
	})
	// A host outside the allowlist, in the path and in the header: refused, never dialed.
	for _, tc := range []struct{ name, path, header string }{
		{"path", "http://evil.test:" + port(evil) + "/steal", ""},
		{"header", "", "http://evil.test:" + port(evil) + "/steal"},
		{"cleaned path form", "http:/evil.test:" + port(evil) + "/steal", ""},
		{"allowed name as a suffix", "http://files.test.evil.test:" + port(evil) + "/steal", ""},
	} {
		t.Run("refused host/"+tc.name, func(t *testing.T) {
			target := e.ProxyURL("api", tc.path)
			h := http.Header{}
			if tc.header != "" {
				target = strings.TrimSuffix(target, "/")
				h.Set(middleware.ProxyURLHeader, tc.header)
			}
			before := evil.count.Load()
			resp := e.Do(t, "GET", target, nil, h)
			if b := errorBody(t, resp); resp.StatusCode != 403 || b.Code != "HOST_NOT_ALLOWED" || b.Message != response.MessageDomainInvalid {
				t.Fatalf("got %d %+v", resp.StatusCode, b)
			}
			if evil.count.Load() != before {
				t.Fatal("the refused host received the request")
			}
		})
	}
	// Redirects: 301/302/303/307/308 to a permitted host and to a refused one
	// are answered, not followed.
	for _, status := range []int{301, 302, 303, 307, 308} {
		for _, to := range []*recorder{files, evil} {
			loc := strings.Replace(to.base, "localhost", map[*recorder]string{files: "files.test", evil: "evil.test"}[to], 1) + "/stolen"
			for _, mode := range []string{"json", "raw"} {
				t.Run("redirect/"+strconv.Itoa(status)+"/"+loc+"/"+mode, func(t *testing.T) {
					api.setReply(func(w http.ResponseWriter, _ *http.Request) {
						w.Header().Set("Location", loc)
						w.WriteHeader(status)
					})
					beforeF, beforeE := files.count.Load(), evil.count.Load()
					h := http.Header{}
					if mode == "raw" {
						h.Set(response.RawHeader, "1")
					}
					resp := doNoRedirect(t, e, "POST", e.ProxyURL("api", "x"), `{"a":1}`, h)
					if mode == "json" {
						b := errorBody(t, resp)
						if resp.StatusCode != 502 || b.Code != "INTEGRATION_ERROR" || !b.IsIntegrationError() || b.Meta["status"] != float64(status) {
							t.Fatalf("got %d %+v, want 502 INTEGRATION_ERROR with meta.status %d", resp.StatusCode, b, status)
						}
					} else {
						readBody(t, resp)
						if resp.StatusCode != status || resp.Header.Get("Location") != loc {
							t.Fatalf("raw: got %d Location %q, want %d %q", resp.StatusCode, resp.Header.Get("Location"), status, loc)
						}
					}
					if files.count.Load() != beforeF || evil.count.Load() != beforeE {
						t.Fatal("the redirect was followed")
					}
				})
			}
		}
	}
}

// doNoRedirect is e.Do with a client that never follows redirects: the test
// client must not chase a Location either (it would resolve fake names
// through the system's DNS).
func doNoRedirect(t *testing.T, e *onbehalftest.Env, method, target, body string, h http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+e.Token())
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestSecuritySSRFTargets defends against server-side request forgery
// through every way a caller can name a target: the path (full URL, raw and
// cleaned) and X-Paragon-Proxy-Url, with IP literals in every encoding,
// cloud-metadata names, userinfo and backslash tricks, protocol-relative
// references and encoded dot-segments. Each is refused with its code before
// anything is dialed. The integration may reach loopback (its provider is a
// loopback recorder), so refusals here come from target checks alone; and
// upstream names resolve through a fake DNS that knows none of them.
func TestSecuritySSRFTargets(t *testing.T) {
	dns := newFakeDNS(t)
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey})}, withFakeDNS(dns))
	connect(t, e, "api", tokens.Credential{APIKey: "k"}, nil)
	p := strconv.Itoa(portOf(rec.base))
	const (
		literal = "HOST_IP_LITERAL"
		denied  = "HOST_NOT_ALLOWED"
		invalid = "TARGET_INVALID"
		escape  = "PATH_INVALID"
	)
	cases := []struct {
		ref  string // the target, as sent
		code string
		why  string
	}{
		{"http://127.0.0.1:" + p + "/x", literal, "dotted IPv4 loopback"},
		{"http://2130706433:" + p + "/x", literal, "decimal IPv4 (127.0.0.1)"},
		{"http://0177.0.0.1:" + p + "/x", literal, "octal IPv4"},
		{"http://0x7f000001:" + p + "/x", literal, "hex IPv4"},
		{"http://0x7f.0.0.1:" + p + "/x", literal, "hex first octet"},
		{"http://127.1:" + p + "/x", literal, "short IPv4"},
		{"http://[::1]:" + p + "/x", literal, "IPv6 loopback"},
		{"http://[::ffff:169.254.169.254]/latest/meta-data/", literal, "IPv4-mapped metadata address"},
		{"http://[::ffff:7f00:1]:" + p + "/x", literal, "IPv4-mapped loopback, hex form"},
		{"http://[fe80::1%25eth0]/x", literal, "link-local IPv6 with zone"},
		{"https://169.254.169.254/latest/meta-data/", literal, "AWS/GCP/Azure metadata address"},
		{"http://metadata.google.internal/computeMetadata/v1/", denied, "GCP metadata name"},
		{"http://metadata/computeMetadata/v1/", denied, "short metadata name"},
		{"http://instance-data/latest/meta-data/", denied, "AWS metadata name"},
		{"http://localhost.:" + p + "/x", "", "the base host with a trailing dot is the base host (control)"},
		{"http://localhost:22/", invalid, "the base host on another port (a local service)"},
		{"http://localhost:" + p + "@evil.example.com/x", invalid, "userinfo: host:port@evil"},
		{"http://user:pass@localhost:" + p + "/x", invalid, "userinfo with credentials"},
		{"http://evil.example.com#@localhost:" + p + "/x", invalid, "fragment hiding the real host"},
		{"http://localhost:" + p + "%40evil.example.com/x", invalid, "encoded @ in the authority"},
		{"http://evil.example.com%2f@localhost:" + p + "/x", invalid, "encoded slash before userinfo"},
		{"//evil.example.com/x", escape, "protocol-relative reference"},
		{"///evil.example.com/x", escape, "protocol-relative, three slashes"},
		{`\\evil.example.com\x`, escape, "backslashes read as slashes"},
		{`/\evil.example.com/x`, escape, "slash-backslash"},
		{`https:\\evil.example.com\x`, escape + "|" + invalid, "scheme with backslashes"}, // the router re-encodes \ as %5C in the path form
		{`http://localhost:` + p + `\@evil.example.com/x`, escape + "|" + invalid, "backslash before @"},
		{"%5c%5cevil.example.com/x", escape, "encoded backslashes"},
		{"../../admin", escape, "dot-segments"},
		{"%2e%2e/%2e%2e/admin", escape, "encoded dot-segments"},
		{".%2e/admin", escape, "half-encoded dot-segment"},
		{"%252e%252e/admin", escape, "double-encoded dot-segments"},
		{"..;/admin", escape, "Tomcat path parameter dot-segment"},
		{"x/..%2fadmin", escape, "encoded slash"},
		{"%c0%ae%c0%ae/admin", invalid, "overlong UTF-8 dots"},
		{"http://localhost:" + p + "/base/../admin", escape, "dot-segments in a full URL"},
		{"http://localhost:" + p + "//evil.example.com/x", escape, "full URL whose path reads as a host"},
		{"file:///etc/passwd", invalid, "file scheme"},
		{"gopher://localhost:" + p + "/_x", invalid, "gopher scheme"},
		{"javascript:alert(1)", invalid, "javascript scheme"},
		{"http://evil.example.com/x", denied, "any other host"},
	}
	for _, tc := range cases {
		for _, form := range []string{"path", "header"} {
			if form == "path" && (strings.HasPrefix(tc.ref, "//") || strings.Contains(tc.ref, "#")) {
				continue // a client cannot put these in a request path as such
			}
			t.Run(form+"/"+tc.why, func(t *testing.T) {
				before := rec.count.Load()
				raw := "/projects/" + e.Project + "/sdk/proxy/api"
				extra := ""
				if form == "path" {
					raw += "/" + tc.ref
				} else {
					extra = middleware.ProxyURLHeader + ": " + tc.ref + "\r\n"
				}
				status, body := rawExchange(t, strings.TrimPrefix(e.Server.URL, "http://"),
					"GET "+raw+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\nAuthorization: Bearer "+e.Token()+"\r\n"+extra+"\r\n")
				if tc.code == "" {
					if status != 200 || rec.count.Load() != before+1 {
						t.Fatalf("control: %d %s", status, body)
					}
					return
				}
				ok := false
				for _, code := range strings.Split(tc.code, "|") {
					ok = ok || strings.Contains(body, `"code":"`+code+`"`)
				}
				if !ok {
					t.Fatalf("got %d %s, want %s", status, body, tc.code)
				}
				if rec.count.Load() != before {
					t.Fatal("the request reached the upstream")
				}
			})
		}
	}
	if n := dns.queries.Load(); n != 0 {
		t.Fatalf("a refused target was resolved (%d DNS queries)", n)
	}
}
