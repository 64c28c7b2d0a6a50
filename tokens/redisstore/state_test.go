package redisstore_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
	"github.com/onbehalf/onbehalf/tokens/redisstore"
)

// TestStateStore: connect states round-trip through Redis, are taken at
// most once under concurrency, and a missing one is ErrStateNotFound.
func TestStateStore(t *testing.T) {
	rdb := newClient(t)
	s, err := redisstore.New(redisstore.Config{Client: rdb, Prefix: testPrefix(t, rdb)})
	if err != nil {
		t.Fatal(err)
	}
	st := s.States()
	ctx := context.Background()
	want := connect.State{Project: "p", User: "u", Integration: "custom.tasklab", Verifier: "v-secret",
		ReturnURL: "https://app.example.com/done", Browser: "b", Expires: time.Now().Add(10 * time.Minute).UTC().Truncate(time.Second),
		Inputs: map[string]string{"shop": "acme"}, Reauth: true,
		Pending: &connect.Pending{Credential: tokens.Credential{AccessToken: "at", RefreshToken: "rt"}, Fields: map[string]string{"shop": "acme"},
			Lookup: 1, Items: []integrations.LookupItem{{Label: "Site 1", Fields: map[string]string{"cloud": "c1"}}}}}
	if err := st.Put(ctx, "k1", want); err != nil {
		t.Fatal(err)
	}
	got, err := st.Take(ctx, "k1")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v %v, want %+v", got, err, want)
	}
	if _, err := st.Take(ctx, "k1"); !errors.Is(err, connect.ErrStateNotFound) {
		t.Fatalf("second take: %v", err)
	}
	// Of 20 concurrent takes, exactly one wins.
	if err := st.Put(ctx, "k2", want); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.Take(ctx, "k2"); err == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d takes succeeded, want 1", wins.Load())
	}
	// A state long past keeping is not stored at all.
	old := want
	old.Expires = time.Now().Add(-2 * time.Hour)
	if err := st.Put(ctx, "k3", old); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Take(ctx, "k3"); !errors.Is(err, connect.ErrStateNotFound) {
		t.Fatalf("expired state: %v", err)
	}
}

// TestStateStoreUnreachable: a dead Redis is an error, not "not found".
func TestStateStoreUnreachable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 500 * time.Millisecond, MaxRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	s, err := redisstore.New(redisstore.Config{Client: rdb})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.States().Take(context.Background(), "k"); err == nil || errors.Is(err, connect.ErrStateNotFound) {
		t.Fatalf("got %v", err)
	}
}
