package redisstore_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
	"github.com/onbehalf/onbehalf/tokens/redisstore"
)

// Three replicas (separate handlers, transports, Refreshers and Redis
// clients, two of them with their own Cached in front) share one Redis. 300
// concurrent requests on a connection whose access token has expired, against
// a token endpoint that rotates refresh tokens and answers invalid_grant to a
// reused one: every request succeeds and the token endpoint is called once.
func TestReplicasRefreshOnce(t *testing.T) {
	rdb := newClient(t)
	prefix := testPrefix(t, rdb)
	shared, err := redisstore.New(redisstore.Config{Client: rdb, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	onbehalftest.RunReplicaRefresh(t, onbehalftest.ReplicaConfig{
		Store: shared, Locker: shared, Cached: 2,
		NewReplica: func(t *testing.T, _ int) (tokens.Store, tokens.Locker) {
			s, err := redisstore.New(redisstore.Config{Client: newClient(t), Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			return s, s
		},
	})
}

// When Redis goes away the proxy answers 503 STORE_UNAVAILABLE and sends
// nothing upstream; when it comes back, the same handler serves again.
func TestProxyStoreUnavailable(t *testing.T) {
	rdb := newClient(t)
	prefix := testPrefix(t, rdb)
	fwd := onbehalftest.NewTCPForwarder(t, redisAddr())
	viaFwd := redis.NewClient(&redis.Options{Addr: fwd.Addr(), DialTimeout: 500 * time.Millisecond, MaxRetries: 1})
	t.Cleanup(func() { _ = viaFwd.Close() })
	s, err := redisstore.New(redisstore.Config{Client: viaFwd, Prefix: prefix, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	onbehalftest.RunStoreOutage(t, onbehalftest.OutageConfig{Store: s, Locker: s, Link: fwd, Name: "Redis"})
}
