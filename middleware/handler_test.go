package middleware_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/response"
)

func readBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func errorBody(t *testing.T, resp *http.Response) response.Body {
	t.Helper()
	var b response.Body
	raw := readBody(t, resp)
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("error body is not JSON: %q", raw)
	}
	if b.Status != resp.StatusCode {
		t.Fatalf("body status %d, want the response status %d", b.Status, resp.StatusCode)
	}
	return b
}

func TestSmokeJSON(t *testing.T) {
	e := onbehalftest.NewEnv(t)
	resp := e.Do(t, "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, nil)
	body := readBody(t, resp)
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), `{"output":{"tasks":[`) {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
}
