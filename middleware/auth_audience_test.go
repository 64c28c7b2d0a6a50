package middleware_test

import (
	"net/http"
	"testing"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// TestAudienceRequiredForSharedKeys: two projects verified by the same key.
// A token without aud, minted for project A, must not open project B (nor
// A: it cannot say which one it was minted for). Defends against a token for
// one tenant being replayed on another that shares the signing key.
func TestAudienceRequiredForSharedKeys(t *testing.T) {
	other, err := onbehalftest.NewSigner("other")
	if err != nil {
		t.Fatal(err)
	}
	e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{Configure: func(c *middleware.Config) {
		c.Projects = append(c.Projects,
			middleware.ProjectConfig{ID: "proj-b", Keys: c.Projects[0].Keys},
			middleware.ProjectConfig{ID: "proj-c", Keys: []middleware.KeyConfig{other.KeyConfig()}})
	}})
	call := func(project, tok string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.Server.URL+"/projects/"+project+"/sdk/integrations", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			return 200, ""
		}
		return resp.StatusCode, errorBody(t, resp).Code
	}
	noAud := onbehalftest.TokenOptions{Audience: "-"}
	for _, project := range []string{e.Project, "proj-b"} {
		tok := e.Signer.MustToken(e.Project, "user-1", noAud)
		if status, code := call(project, tok); status != 403 || code != "AUTH_PROJECT_MISMATCH" {
			t.Errorf("token without aud on %s (shared key): got %d %s, want 403 AUTH_PROJECT_MISMATCH", project, status, code)
		}
	}
	// With aud, each project of the shared key takes its own tokens only.
	if status, _ := call("proj-b", e.Signer.MustToken("proj-b", "user-1")); status != 200 {
		t.Errorf("token with aud for proj-b: got %d, want 200", status)
	}
	if status, code := call("proj-b", e.Signer.MustToken(e.Project, "user-1")); status != 403 || code != "AUTH_PROJECT_MISMATCH" {
		t.Errorf("token with aud for %s on proj-b: got %d %s", e.Project, status, code)
	}
	// A key of one project only: a token without aud stays accepted (the
	// key itself names the project), as before.
	if status, code := call("proj-c", other.MustToken("proj-c", "user-1", noAud)); status != 200 {
		t.Errorf("token without aud on a project with its own key: got %d %s, want 200", status, code)
	}
}
