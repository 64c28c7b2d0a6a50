package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/tokens/redisstore"
)

// redisAddr is the Redis the tests use: ONBEHALF_REDIS_ADDR, or a local one.
func redisAddr() string {
	if a := os.Getenv("ONBEHALF_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// newClient returns a client of the test Redis, closed at cleanup. When Redis
// cannot be reached the test is skipped, or fails under CI=true.
func newClient(t testing.TB) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr(), PoolSize: 64})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s is not reachable: %v (CI=true: a store test may not be skipped)", redisAddr(), err)
		}
		t.Skipf("Redis at %s is not reachable (%v); start one or set ONBEHALF_REDIS_ADDR (CI=true turns this skip into a failure)", redisAddr(), err)
	}
	return rdb
}

// testPrefix returns a key prefix unique to this run, and deletes every key
// under it at cleanup.
func testPrefix(t testing.TB, rdb *redis.Client) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "onbehalftest:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			_ = rdb.Del(ctx, keys[:n]...).Err()
			keys = keys[n:]
		}
	})
	return prefix
}

// newStore returns a Store over the test Redis with a prefix of its own, and
// the client, for raw reads.
func newStore(t testing.TB) (*redisstore.Store, *redis.Client) {
	t.Helper()
	rdb := newClient(t)
	s, err := redisstore.New(redisstore.Config{Client: rdb, Prefix: testPrefix(t, rdb)})
	if err != nil {
		t.Fatal(err)
	}
	return s, rdb
}
