package redisstore_test

import (
	"context"
	"testing"

	"github.com/onbehalf/onbehalf/tokens"
	"github.com/onbehalf/onbehalf/tokens/redisstore"
	"github.com/onbehalf/onbehalf/tokens/storetest"
)

// BenchmarkGet measures the proxy's per-request read: Get of a user's
// default connection with a warm token, for each store side by side. Each
// sub-benchmark after memory reports x-memory, its time per Get over
// MemoryStore's in the same run.
//
//	go test -run '^$' -bench BenchmarkGet
func BenchmarkGet(b *testing.B) {
	redis, _ := newStore(b)
	cached, err := tokens.NewCached(redis, tokens.CachedConfig{})
	if err != nil {
		b.Fatal(err)
	}
	var memoryNs float64
	for _, bm := range []struct {
		name  string
		store tokens.Store
	}{
		{"memory", tokens.NewMemoryStore()},
		{"redis", redis},
		{"cached-redis", cached},
	} {
		b.Run(bm.name, func(b *testing.B) {
			ctx := context.Background()
			c := &tokens.Connection{Project: "p-bench", User: "u", Integration: "salesforce",
				Credential: tokens.Credential{AccessToken: "at", RefreshToken: "rt", TokenType: "Bearer"},
				Fields:     map[string]string{"instance_url": "https://x.my.salesforce.com"}}
			if err := bm.store.Save(ctx, c); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = bm.store.Delete(ctx, c.Key()) })
			k := tokens.Key{Project: "p-bench", User: "u", Integration: "salesforce"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bm.store.Get(ctx, k); err != nil {
					b.Fatal(err)
				}
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if bm.name == "memory" {
				memoryNs = ns
			} else if memoryNs > 0 {
				b.ReportMetric(ns/memoryNs, "x-memory")
			}
		})
	}
}

// BenchmarkKeepAlive100k: a KeepAlive tick over 100 000 stored connections,
// 1 000 of them due (see storetest.BenchmarkKeepAlive).
//
//	go test -run '^$' -bench KeepAlive -benchtime 5x
func BenchmarkKeepAlive100k(b *testing.B) {
	s := newBenchStore(b)
	storetest.BenchmarkKeepAlive(b, s, s, 100_000, 1_000)
}

func newBenchStore(b *testing.B) *redisstore.Store { s, _ := newStore(b); return s }
