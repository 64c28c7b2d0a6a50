package onbehalftest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/onbehalf/onbehalf/onbehalftest"
)

func TestEnv(t *testing.T) {
	e := onbehalftest.NewEnv(t)
	resp := e.Do(t, "GET", e.ProxyURL("custom.tasklab", "tasks/2"), nil, nil)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got, want := string(body), `{"output":{"id":2,"title":"Ship the demo","done":false}}`; resp.StatusCode != 200 || got != want {
		t.Fatalf("got %d %s, want 200 %s", resp.StatusCode, got, want)
	}
}

// Get reads the body with the user's token and returns a redirect as it is.
func TestEnvGet(t *testing.T) {
	e := onbehalftest.NewEnv(t)
	if status, body := e.Get(t, e.ProxyURL("custom.tasklab", "tasks/2")); status != 200 || string(body) != `{"output":{"id":2,"title":"Ship the demo","done":false}}` {
		t.Fatalf("got %d %s, want 200 and task 2", status, body)
	}
	redirect := httptest.NewServer(http.RedirectHandler(e.Server.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	if status, _ := e.Get(t, redirect.URL); status != http.StatusTemporaryRedirect {
		t.Fatalf("got %d, want the 307 itself", status)
	}
}
