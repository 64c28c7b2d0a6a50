package storetest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/tokens"
)

// RunMetadata is the conformance suite of tokens.Metadata: Get of an
// unknown user, Put and Get back (nested values, JSON numbers as float64),
// replace, users and projects kept apart, delete by an empty object, the
// size cap, and copies the caller may modify.
func RunMetadata(t *testing.T, m tokens.Metadata) {
	ctx := context.Background()
	p := project(t)
	get := func(t *testing.T, project, user string) map[string]any {
		t.Helper()
		got, err := m.Get(ctx, project, user)
		if err != nil {
			t.Fatalf("Get(%s, %s): %v", project, user, err)
		}
		if got == nil {
			t.Fatalf("Get(%s, %s) = nil map, want an empty one", project, user)
		}
		return got
	}
	if got := get(t, p, "nobody"); len(got) != 0 {
		t.Fatalf("unknown user: got %v, want {}", got)
	}
	want := map[string]any{"plan": "pro", "seats": float64(3), "tags": []any{"a", "b"}, "nested": map[string]any{"x": true}}
	if err := m.Put(ctx, p, "u1", want); err != nil {
		t.Fatal(err)
	}
	if got := get(t, p, "u1"); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// Other users and projects see nothing; ids with separators do not collide.
	for _, k := range [][2]string{{p, "u2"}, {p + "x", "u1"}, {p + ":u1", ""}, {p, "u1:"}} {
		if got := get(t, k[0], k[1]); len(got) != 0 {
			t.Fatalf("%q/%q: got %v, want {}", k[0], k[1], got)
		}
	}
	// The caller's copy is its own.
	got := get(t, p, "u1")
	got["plan"] = "changed"
	want["plan"] = "changed too"
	if got := get(t, p, "u1"); got["plan"] != "pro" {
		t.Fatalf("stored value changed through a copy: %v", got["plan"])
	}
	// Put replaces the whole object.
	if err := m.Put(ctx, p, "u1", map[string]any{"only": "this"}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, p, "u1"); !reflect.DeepEqual(got, map[string]any{"only": "this"}) {
		t.Fatalf("after replace: got %v", got)
	}
	// Too large: refused, the stored value kept.
	big := map[string]any{"blob": strings.Repeat("x", tokens.MaxMetadataBytes)}
	if err := m.Put(ctx, p, "u1", big); !errors.Is(err, tokens.ErrMetadataTooLarge) {
		t.Fatalf("oversized Put: got %v, want ErrMetadataTooLarge", err)
	}
	if got := get(t, p, "u1"); got["only"] != "this" {
		t.Fatalf("after a refused Put: got %v", got)
	}
	// An empty object deletes.
	if err := m.Put(ctx, p, "u1", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, p, "u1"); len(got) != 0 {
		t.Fatalf("after delete: got %v, want {}", got)
	}
}
