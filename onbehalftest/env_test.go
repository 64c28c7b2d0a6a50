package onbehalftest_test

import (
	"io"
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
