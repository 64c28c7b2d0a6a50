package tokens

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// countingStore counts the Gets that reach the backing store.
type countingStore struct {
	Store
	gets atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, k Key) (*Connection, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, k)
}

func newCountingCached(t *testing.T, ttl time.Duration) (*Cached, *countingStore) {
	t.Helper()
	inner := &countingStore{Store: NewMemoryStore()}
	c, err := NewCached(inner, CachedConfig{TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return c, inner
}

func TestNewCachedConfig(t *testing.T) {
	if _, err := NewCached(NewMemoryStore(), CachedConfig{TTL: -time.Second}); err == nil {
		t.Error("negative TTL: no error")
	}
	if _, err := NewCached(nil, CachedConfig{}); err == nil {
		t.Error("nil store: no error")
	}
}

func TestCachedServesFromMemory(t *testing.T) {
	ctx := context.Background()
	c, inner := newCountingCached(t, time.Minute)
	conn := &Connection{Project: "p", User: "u", Integration: "slack", ID: "a", Credential: Credential{AccessToken: "t1"}}
	if err := c.Save(ctx, conn); err != nil {
		t.Fatal(err)
	}
	exact, def := conn.Key(), Key{Project: "p", User: "u", Integration: "slack"}
	for range 5 {
		if _, err := c.Get(ctx, exact); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, def); err != nil {
			t.Fatal(err)
		}
	}
	if got := inner.gets.Load(); got != 2 {
		t.Fatalf("backing store Gets: %d, want 2 (one per key form)", got)
	}
}

func TestCachedReturnsCopies(t *testing.T) {
	ctx := context.Background()
	c, _ := newCountingCached(t, time.Minute)
	conn := &Connection{Project: "p", User: "u", Integration: "slack", ID: "a", Fields: map[string]string{"f": "1"}}
	if err := c.Save(ctx, conn); err != nil {
		t.Fatal(err)
	}
	got, _ := c.Get(ctx, conn.Key())
	got.Fields["f"] = "mutated"
	got.Credential.AccessToken = "mutated"
	again, _ := c.Get(ctx, conn.Key())
	if again.Fields["f"] != "1" || again.Credential.AccessToken != "" {
		t.Fatal("mutating a returned connection changed the cache")
	}
}

func TestCachedSaveAndDeleteInvalidate(t *testing.T) {
	ctx := context.Background()
	c, _ := newCountingCached(t, time.Minute)
	conn := &Connection{Project: "p", User: "u", Integration: "slack", ID: "a", Credential: Credential{AccessToken: "t1"}}
	if err := c.Save(ctx, conn); err != nil {
		t.Fatal(err)
	}
	def := Key{Project: "p", User: "u", Integration: "slack"}
	_, _ = c.Get(ctx, conn.Key())
	_, _ = c.Get(ctx, def)
	conn.Credential.AccessToken = "t2"
	if err := c.Save(ctx, conn); err != nil {
		t.Fatal(err)
	}
	for _, k := range []Key{conn.Key(), def} {
		if got, _ := c.Get(ctx, k); got.Credential.AccessToken != "t2" {
			t.Errorf("Get(%s) after Save served the old token", k)
		}
	}
	if err := c.Delete(ctx, conn.Key()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []Key{conn.Key(), def} {
		if _, err := c.Get(ctx, k); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%s) after Delete: %v, want ErrNotFound", k, err)
		}
	}
}

func TestCachedDoesNotCacheNotFound(t *testing.T) {
	ctx := context.Background()
	c, inner := newCountingCached(t, time.Minute)
	k := Key{Project: "p", User: "u", Integration: "slack", ID: "a"}
	if _, err := c.Get(ctx, k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	// Written behind the cache's back, as another replica would.
	if err := inner.Save(ctx, &Connection{Project: "p", User: "u", Integration: "slack", ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, k); err != nil {
		t.Fatalf("Get after another writer created it: %v", err)
	}
}

func TestCachedInvalidateAndTTL(t *testing.T) {
	ctx := context.Background()
	c, inner := newCountingCached(t, 50*time.Millisecond)
	conn := &Connection{Project: "p", User: "u", Integration: "slack", ID: "a", Credential: Credential{AccessToken: "t1"}}
	if err := c.Save(ctx, conn); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Get(ctx, conn.Key())
	// Another replica rotates the token behind this cache.
	conn.Credential.AccessToken = "t2"
	if err := inner.Save(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Get(ctx, conn.Key()); got.Credential.AccessToken != "t1" {
		t.Fatal("expected the cached (stale) token within TTL")
	}
	c.Invalidate(ctx, conn.Key())
	if got, _ := c.Get(ctx, conn.Key()); got.Credential.AccessToken != "t2" {
		t.Fatal("Invalidate did not drop the cached token")
	}
	conn.Credential.AccessToken = "t3"
	if err := inner.Save(ctx, conn); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got, _ := c.Get(ctx, conn.Key()); got.Credential.AccessToken != "t3" {
		t.Fatal("served a cached token after its TTL")
	}
}

// racingStore lets a test act between a Get's read of the backing store and
// the cache fill.
type racingStore struct {
	Store
	afterGet func()
}

func (s *racingStore) Get(ctx context.Context, k Key) (*Connection, error) {
	c, err := s.Store.Get(ctx, k)
	if s.afterGet != nil {
		f := s.afterGet
		s.afterGet = nil
		f()
	}
	return c, err
}

func TestCachedNoStaleFillAfterInvalidate(t *testing.T) {
	ctx := context.Background()
	inner := &racingStore{Store: NewMemoryStore()}
	c, err := NewCached(inner, CachedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	conn := &Connection{Project: "p", User: "u", Integration: "slack", ID: "a", Credential: Credential{AccessToken: "old"}}
	if err := c.Save(ctx, conn); err != nil {
		t.Fatal(err)
	}
	// A Save lands between the miss's read and its fill.
	inner.afterGet = func() {
		conn.Credential.AccessToken = "new"
		if err := c.Save(ctx, conn); err != nil {
			t.Error(err)
		}
	}
	if got, _ := c.Get(ctx, conn.Key()); got.Credential.AccessToken != "old" {
		t.Fatal("setup: the racing Get should return what it read")
	}
	if got, _ := c.Get(ctx, conn.Key()); got.Credential.AccessToken != "new" {
		t.Fatal("a read from before the Save was cached after it")
	}
}
