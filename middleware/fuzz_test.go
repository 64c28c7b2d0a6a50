package middleware_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/response"
)

// FuzzHandler sends arbitrary paths, methods and header values through the
// whole handler with a valid user token. Whatever arrives, the answer is never
// a panic or a 500, and every error is the JSON error body with a known code
// and a status matching the body. It defends against bad input that slips
// past a check into a crash or an unclassified error.
func FuzzHandler(f *testing.F) {
	for _, seed := range [][3]string{
		{"GET", "/projects/proj-test/sdk/proxy/custom.tasklab/tasks", ""},
		{"POST", "/projects/proj-test/sdk/proxy/custom.tasklab/https://evil.example.com/x", "auto"},
		{"GET", "/projects/proj-test/sdk/proxy/custom.tasklab/%2e%2e/%2e%2e/oauth/token", ""},
		{"GET", "/projects/proj-test/sdk/proxy/custom.tasklab", "http://localhost:1/x"},
		{"PUT", "/projects/proj-test/sdk/proxy/custom/%00/x", ""},
		{"GET", "/projects/proj-test/sdk/me", ""},
		{"DELETE", "/projects/%ZZ/sdk/integrations", ""},
		{"GET", "/projects/proj-test/sdk/proxy/custom.tasklab/http:/localhost:1/x", "1"},
		{"GET", "/projects/proj-test/sdk/proxy/custom.tasklab/http://[::1]:80/", ""},
		{"OPTIONS", "/projects/proj-test/sdk/proxy/custom.tasklab/\\\\evil.com", "%0d%0a"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	e := onbehalftest.NewEnv(f)
	token := e.Token()
	known := map[string]bool{}
	for _, c := range []response.Code{response.CodeTokenMissing, response.CodeTokenInvalid, response.CodeTokenExpired,
		response.CodeProjectMismatch, response.CodePermissionDenied, response.CodeProjectNotFound, response.CodeIntegrationNotFound,
		response.CodeNotEnabled, response.CodeCredentialNotFound, response.CodeReauthRequired, response.CodeHostNotAllowed,
		response.CodeHostIPLiteral, response.CodeAddressDenied, response.CodeTargetInvalid, response.CodePathInvalid,
		response.CodeBadRequest, response.CodeRequestTooLarge, response.CodeHeadersTooLarge, response.CodeResponseTooLarge,
		response.CodeUseRaw, response.CodeUpstreamUnreachable, response.CodeUpstreamTimeout, response.CodeNotFound,
		response.CodeMethodNotAllowed, response.CodeIntegrationError, response.CodeRateLimited} {
		known[string(c)] = true
	}
	f.Fuzz(func(t *testing.T, method, path, value string) {
		if method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") || !strings.HasPrefix(path, "/") ||
			strings.ContainsAny(path, " #?\r\n\x00") || strings.ContainsAny(value, "\r\n\x00") {
			t.Skip() // not an HTTP request a server would hand to a handler
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.Method = method
		req.URL.Path = path
		req.URL.RawPath = path
		req.RequestURI = path
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", value)
		req.Header.Set("X-Paragon-Proxy-Url", value)
		req.Header.Set("X-Paragon-Use-Raw-Response", value)
		req.Header.Set("X-Paragon-Credential", value)
		rec := httptest.NewRecorder()
		e.Handler.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusBadGateway && rec.Code != http.StatusGatewayTimeout && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %q (value %q) → %d %s", method, path, value, rec.Code, rec.Body.String())
		}
		if rec.Code < 400 || rec.Header().Get(response.ErrorSourceHeader) == "integration" {
			return
		}
		var b response.Body
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Status != rec.Code || !known[b.Code] {
			t.Fatalf("%s %q (value %q) → %d, not a known JSON error: %s", method, path, value, rec.Code, rec.Body.String())
		}
	})
}
