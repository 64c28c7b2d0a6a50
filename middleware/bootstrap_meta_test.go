package middleware_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

func meOf(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	var me struct {
		Meta map[string]any `json:"meta"`
	}
	if err := json.Unmarshal(readBody(t, resp), &me); err != nil || resp.StatusCode != 200 {
		t.Fatalf("me: %d %v", resp.StatusCode, err)
	}
	return me.Meta
}

// TestMeMetadataStored: with a Config.Metadata of the host app's, PATCH /sdk/me merges its meta
// into the user's stored object (null removes a key), GET answers it, and
// another user of the project sees none of it.
func TestMeMetadataStored(t *testing.T) {
	meta := &tokens.MemoryMetadata{}
	e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{Configure: func(c *middleware.Config) { c.Metadata = meta }})
	me := e.Server.URL + "/projects/" + e.Project + "/sdk/me"
	patch := func(body string) map[string]any {
		return meOf(t, e.Do(t, "PATCH", me, &body, http.Header{"Content-Type": {"application/json"}}))
	}
	if got := meOf(t, e.Do(t, "GET", me, nil, nil)); len(got) != 0 {
		t.Fatalf("GET before any PATCH: %v", got)
	}
	patch(`{"meta": {"plan": "pro", "seats": 3}}`)
	got := patch(`{"meta": {"seats": 5, "plan": null, "team": "a"}}`)
	want := map[string]any{"seats": float64(5), "team": "a"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PATCH answer: got %v, want %v", got, want)
	}
	if got := meOf(t, e.Do(t, "GET", me, nil, nil)); !reflect.DeepEqual(got, want) {
		t.Fatalf("GET after PATCH: got %v, want %v", got, want)
	}
	if stored, _ := meta.Get(t.Context(), e.Project, e.User); !reflect.DeepEqual(stored, want) {
		t.Fatalf("stored: got %v, want %v", stored, want)
	}
	other := e.Signer.MustToken(e.Project, "someone-else")
	if got := meOf(t, e.Do(t, "GET", me, nil, http.Header{"Authorization": {"Bearer " + other}})); len(got) != 0 {
		t.Fatalf("another user's GET: %v", got)
	}
	// A merge that would pass the cap: 413 JSON, the stored object kept.
	if err := meta.Put(t.Context(), e.Project, e.User, map[string]any{"blob": strings.Repeat("x", 60<<10)}); err != nil {
		t.Fatal(err)
	}
	more := `{"meta": {"more": "` + strings.Repeat("y", 8<<10) + `"}}`
	resp := e.Do(t, "PATCH", me, &more, http.Header{"Content-Type": {"application/json"}})
	if b := errorBody(t, resp); resp.StatusCode != 413 || b.Code != "REQUEST_TOO_LARGE" {
		t.Fatalf("oversized meta: %d %+v", resp.StatusCode, b)
	}
	if stored, _ := meta.Get(t.Context(), e.Project, e.User); stored["more"] != nil || stored["blob"] == nil {
		t.Fatalf("a refused PATCH changed the stored object: keys %d", len(stored))
	}
}
