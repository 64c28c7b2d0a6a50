package redisstore_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/lifecycle"
	"github.com/onbehalf/onbehalf/lifecycle/outboxtest"
	"github.com/onbehalf/onbehalf/tokens/redisstore"
)

// TestOutbox runs the outbox conformance suite, its restart and delivery
// checks included, against a real Redis: each Open is a new client and
// Store over the same prefix, as a restarted replica has.
func TestOutbox(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T) outboxtest.Open {
		prefix := testPrefix(t, newClient(t))
		return func() lifecycle.Outbox {
			rdb := redis.NewClient(&redis.Options{Addr: redisAddr()})
			t.Cleanup(func() { _ = rdb.Close() })
			s, err := redisstore.New(redisstore.Config{Client: rdb, Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			return s.Outbox()
		}
	})
}
