package middleware_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// TestUserMetadata: PATCH /sdk/me (the SDK's setUserMetadata) merges into the
// user's stored metadata, GET /sdk/me returns it, another user never sees it,
// and /sdk/me lists the features the SDK's headless functions check.
func TestUserMetadata(t *testing.T) {
	e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{})
	me := e.Server.URL + "/projects/" + e.Project + "/sdk/me"
	type meAnswer struct {
		Meta    map[string]any `json:"meta"`
		Project struct {
			AccessibleFeatures []string `json:"accessibleFeatures"`
		} `json:"project"`
	}
	call := func(method, user, body string) (int, meAnswer, string) {
		t.Helper()
		h := http.Header{"Authorization": {"Bearer " + e.Signer.MustToken(e.Project, user)}}
		var b *string
		if body != "" {
			b = &body
		}
		resp := e.Do(t, method, me, b, h)
		defer resp.Body.Close()
		var raw json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&raw)
		var out meAnswer
		_ = json.Unmarshal(raw, &out)
		var code struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(raw, &code)
		return resp.StatusCode, out, code.Code
	}
	status, got, _ := call(http.MethodGet, "user-1", "")
	if status != 200 || len(got.Meta) != 0 || !reflect.DeepEqual(got.Project.AccessibleFeatures, middleware.AccessibleFeatures) {
		t.Fatalf("fresh user: %d %+v", status, got)
	}
	if status, got, _ = call(http.MethodPatch, "user-1", `{"meta":{"Email":"a@b.c","plan":"pro"}}`); status != 200 || got.Meta["plan"] != "pro" {
		t.Fatalf("patch: %d %+v", status, got)
	}
	if status, got, _ = call(http.MethodPatch, "user-1", `{"meta":{"plan":null,"seats":3}}`); status != 200 {
		t.Fatalf("second patch: %d", status)
	}
	want := map[string]any{"Email": "a@b.c", "seats": float64(3)}
	if _, got, _ = call(http.MethodGet, "user-1", ""); !reflect.DeepEqual(got.Meta, want) {
		t.Fatalf("stored meta %v, want %v", got.Meta, want)
	}
	if _, got, _ = call(http.MethodGet, "user-2", ""); len(got.Meta) != 0 {
		t.Fatalf("another user sees %v", got.Meta)
	}
	for _, body := range []string{`{"meta":[1]}`, `not json`, `{}`, `{"meta":{"x":"` + strings.Repeat("a", middleware.MaxMetadataBytes) + `"}}`} {
		if status, _, code := call(http.MethodPatch, "user-1", body); status != 400 || code != "BAD_REQUEST" {
			t.Errorf("patch %.30q: %d %s, want 400 BAD_REQUEST", body, status, code)
		}
	}
	big := `{"meta":{"x":"` + strings.Repeat("a", middleware.MaxMetadataBytes/2) + `"}}`
	call(http.MethodPatch, "user-1", big)
	if status, _, code := call(http.MethodPatch, "user-1", strings.Replace(big, `"x"`, `"y"`, 1)); status != 413 || code != "REQUEST_TOO_LARGE" {
		t.Errorf("metadata past the cap: %d %s", status, code)
	}
}
