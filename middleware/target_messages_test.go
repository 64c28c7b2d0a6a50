package middleware_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/onbehalftest"
)

// TestTargetErrorsFixedMessages: a refused target answers a fixed message
// per cause, never the cause's own text (which quotes the target as given,
// and the package internals that judged it).
func TestTargetErrorsFixedMessages(t *testing.T) {
	e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{})
	cases := []struct{ name, target, want string }{
		{"scheme", "ftp://files.tasklab.test/secret-marker", "Invalid target URL: its scheme is not allowed for this integration."},
		{"userinfo", "https://secret-marker:pw@files.tasklab.test/x", "Invalid target URL: it must not carry a user name or password."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.Do(t, http.MethodGet, e.Server.URL+"/projects/"+e.Project+"/sdk/proxy/custom.tasklab", nil,
				http.Header{"X-Paragon-Proxy-Url": {tc.target}})
			b := errorBody(t, resp)
			if resp.StatusCode != 400 || b.Code != "TARGET_INVALID" || b.Message != tc.want {
				t.Fatalf("got %d %s %q, want 400 TARGET_INVALID %q", resp.StatusCode, b.Code, b.Message, tc.want)
			}
			if strings.Contains(b.Message, "secret-marker") || strings.Contains(b.Message, "hosts:") {
				t.Fatalf("the cause's text reached the answer: %q", b.Message)
			}
		})
	}
}
