package tokens

import (
	"context"
	"errors"
	"testing"
)

func TestMemoryStoreAssignsRandomIDs(t *testing.T) {
	s := NewMemoryStore()
	ctx := context.Background()
	a := &Connection{Project: "p", User: "u", Integration: "slack"}
	b := &Connection{Project: "p", User: "u", Integration: "slack"}
	if err := s.Save(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, b); err != nil {
		t.Fatal(err)
	}
	if len(a.ID) != 32 || len(b.ID) != 32 || a.ID == b.ID {
		t.Fatalf("ids %q and %q: want two different random ids", a.ID, b.ID)
	}
}

func TestMemoryStoreFailedCreateKeepsEmptyID(t *testing.T) {
	s := NewMemoryStore()
	ctx := context.Background()
	if err := s.Save(ctx, &Connection{Project: "p", User: "u", Integration: "slack", ID: "a"}); err != nil {
		t.Fatal(err)
	}
	c := &Connection{Project: "p", User: "u", Integration: "slack", ID: "a"}
	if err := s.Save(ctx, c); !errors.Is(err, ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
	if c.Version != 0 || !c.UpdatedAt.IsZero() {
		t.Fatalf("failed create changed the connection: version %d", c.Version)
	}
}

func TestMemoryStoreDeleteNeedsID(t *testing.T) {
	s := NewMemoryStore()
	ctx := context.Background()
	if err := s.Save(ctx, &Connection{Project: "p", User: "u", Integration: "slack", ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, Key{Project: "p", User: "u", Integration: "slack"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete without id: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, Key{Project: "p", User: "u", Integration: "slack", ID: "a"}); err != nil {
		t.Fatalf("Delete without id deleted something: %v", err)
	}
}

func TestMemoryStoreHonoursContext(t *testing.T) {
	s := NewMemoryStore()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(ctx, Key{ID: "a"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled context: %v", err)
	}
	if err := s.Save(ctx, &Connection{ID: "a"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Save with a canceled context: %v", err)
	}
}
