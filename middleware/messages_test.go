package middleware_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/onbehalftest"
)

// TestErrorMessagesSayWhatToDo: the likeliest mistakes get a message that
// names the fix: a token signed by another key (an earlier demo run), a
// custom integration named without its custom. prefix, an unknown project.
func TestErrorMessagesSayWhatToDo(t *testing.T) {
	e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{})
	other, err := onbehalftest.NewSigner("other")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, url, token string
		status           int
		code, want       string
	}{
		{"token from another key", e.ProxyURL("custom.tasklab", "tasks"), other.MustToken(e.Project, "user-1"),
			401, "AUTH_TOKEN_INVALID", "signature matches none of the project's keys"},
		{"not a JWT", e.ProxyURL("custom.tasklab", "tasks"), "not-a-jwt",
			401, "AUTH_TOKEN_INVALID", "not a signed JWT"},
		{"custom slug without prefix", e.ProxyURL("tasklab", "tasks"), "",
			404, "INTEGRATION_NOT_FOUND", "did you mean custom.tasklab?"},
		{"unknown project", e.Server.URL + "/projects/nope/sdk/proxy/custom.tasklab/tasks", "",
			404, "PROJECT_NOT_FOUND", "not configured here"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h http.Header
			if tc.token != "" {
				h = http.Header{"Authorization": {"Bearer " + tc.token}}
			}
			resp := e.Do(t, http.MethodGet, tc.url, nil, h)
			b := errorBody(t, resp)
			if resp.StatusCode != tc.status || b.Code != tc.code || !strings.Contains(b.Message, tc.want) {
				t.Fatalf("got %d %s %q, want %d %s mentioning %q", resp.StatusCode, b.Code, b.Message, tc.status, tc.code, tc.want)
			}
		})
	}
}
