package middleware_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/middleware/upstream"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestNonCanonicalHeaderNames: a request built by hand (an adapter, a test,
// a host app calling ServeHTTP directly) may carry header names that are not
// in canonical form, and a custom RoundTripper may answer with such names.
// The filters must not be slipped past that way: the caller's own
// credentials and X-Paragon-* never reach the provider, and in raw mode the
// provider's cookies, CORS grants and X-Onbehalf-* never reach the caller.
func TestNonCanonicalHeaderNames(t *testing.T) {
	var sent http.Header
	var wire []byte
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = r.Header.Clone()
		// What the transport would write: no second Host or Content-Length
		// line, no Transfer-Encoding the body does not have.
		var b bytes.Buffer
		if err := r.Write(&b); err != nil {
			return nil, err
		}
		wire = b.Bytes()
		return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"content-type": {"text/plain"}, "set-cookie": {"sid=provider"},
				"access-control-allow-origin": {"*"}, "x-onbehalf-error-code": {"FORGED"}, "x-kept": {"yes"}},
			Body: io.NopCloser(strings.NewReader("hello")), Request: r}, nil
	})
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey, In: "header", Name: "X-Api-Key"})},
		func(c *middleware.Config) { c.Forwarder.RoundTripper = rt })
	connect(t, e, "api", tokens.Credential{APIKey: "provider-key"}, nil)

	req := httptest.NewRequest(http.MethodGet, "/projects/"+e.Project+"/sdk/proxy/api/x", nil)
	tok := e.Token()
	req.Header = http.Header{
		"Authorization":              {"Bearer " + tok},
		"authorization":              {"Bearer " + tok}, // a second copy under a non-canonical name
		"cookie":                     {"host-session=1"},
		"x-paragon-use-raw-response": {"1"},
		"X-Paragon-Use-Raw-Response": {"1"},
		"x-forwarded-for":            {"10.0.0.1"},
		"connection":                 {"upgrade"},
		"upgrade":                    {"websocket"},
		"transfer-encoding":          {"chunked"},
		"keep-alive":                 {"timeout=5"},
		"host":                       {"evil.example"},
		"content-length":             {"99"},
		"x-lower":                    {"kept too"},
		"X-Custom":                   {"kept"},
	}
	w := httptest.NewRecorder()
	e.Handler.ServeHTTP(w, req)
	if w.Code != 200 || w.Body.String() != "hello" {
		t.Fatalf("got %d %q", w.Code, w.Body.String())
	}
	for k, v := range sent {
		ck := http.CanonicalHeaderKey(k)
		if ck == "Cookie" || ck == "Connection" || ck == "Upgrade" || strings.HasPrefix(ck, "X-Paragon-") || strings.HasPrefix(ck, "X-Forwarded-") ||
			(ck == "Authorization" && strings.Contains(strings.Join(v, " "), tok)) {
			t.Errorf("header %s reached the provider", k) // its value may be the user token: not printed
		}
	}
	if sent.Get("X-Api-Key") != "provider-key" || sent.Get("X-Custom") != "kept" || sent.Get("X-Lower") != "kept too" {
		t.Errorf("outbound header %v: want the credential, X-Custom and X-Lower", sent)
	}
	for _, line := range strings.Split(string(wire), "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		switch http.CanonicalHeaderKey(name) {
		case "Transfer-Encoding", "Keep-Alive", "Content-Length":
			t.Errorf("outbound request has %q", line)
		case "Host":
			if strings.Contains(line, "evil.example") {
				t.Errorf("outbound request has %q", line)
			}
		}
	}
	for k := range w.Header() {
		ck := http.CanonicalHeaderKey(k)
		if ck == "Set-Cookie" || strings.HasPrefix(ck, "Access-Control-") || ck == "X-Onbehalf-Error-Code" {
			t.Errorf("header %s reached the caller", k)
		}
	}
	if w.Header().Get("Content-Security-Policy") == "" {
		t.Errorf("raw answer without its CSP: %v", w.Header())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestHeaderConstantsCanonical: the handler reads these headers by map key,
// without canonicalizing the name on every request, which is right only
// while each constant is in canonical form.
func TestHeaderConstantsCanonical(t *testing.T) {
	for _, name := range []string{middleware.ProxyURLHeader, middleware.CredentialHeader, upstream.RetryHeader,
		upstream.TimeoutHeader, response.RawHeader, "Authorization"} {
		if c := http.CanonicalHeaderKey(name); c != name {
			t.Errorf("%q is not canonical (%q)", name, c)
		}
	}
}
