package redisstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/tokens"
	"github.com/onbehalf/onbehalf/tokens/redisstore"
)

// New checks its Config once; a missing client is an error, not a panic.
func ExampleNew() {
	_, err := redisstore.New(redisstore.Config{})
	fmt.Println(err)
	// Output: redisstore: Config.Client is required
}

// A shared store and locker for a Refresher, with the Sealed and Cached
// decorators in front. (It needs a live Redis, so it has no output.)
func Example_replicas() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	shared, err := redisstore.New(redisstore.Config{Client: rdb, Prefix: "myapp:onbehalf:"})
	if err != nil {
		panic(err)
	}
	key := make([]byte, 32) // load it from your secret manager
	sealed, err := tokens.NewSealed(shared, tokens.KeyRing{Keys: map[string][]byte{"2025-01": key}, Current: "2025-01"})
	if err != nil {
		panic(err)
	}
	store, err := tokens.NewCached(sealed, tokens.CachedConfig{TTL: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	refresher, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store, Locker: shared})
	if err != nil {
		panic(err)
	}
	_ = refresher // pass store and refresher to middleware.Config
}

// A lease held in Redis, extended while long work runs.
func ExampleLease_Extend() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	locker, err := redisstore.New(redisstore.Config{Client: rdb})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	lease, err := locker.Lock(ctx, "nightly-export", 30*time.Second)
	if err != nil {
		panic(err)
	}
	defer lease.Release(ctx)
	if err := lease.(*redisstore.Lease).Extend(ctx, time.Minute); err != nil {
		panic(err) // tokens.ErrNotHeld: the lease ran out and may be someone else's
	}
}
