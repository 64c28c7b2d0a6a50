package redislimiter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/limits"
	"github.com/onbehalf/onbehalf/limits/redislimiter"
)

// BenchmarkReserve is the limiter's cost per permit: in process, and Redis
// with and without leasing, at a rate high enough never to wait.
//
//	go test ./ -run '^$' -bench Reserve -benchmem
func BenchmarkReserve(b *testing.B) {
	needRedis(b, redisAddr())
	prefix := fmt.Sprintf("bench:limits:%d:", time.Now().UnixNano())
	cases := []struct {
		name string
		lim  func() (limits.Limiter, func() int64)
	}{
		{"local", func() (limits.Limiter, func() int64) { return limits.NewLocal(), func() int64 { return 0 } }},
		{"redis-lease", func() (limits.Limiter, func() int64) {
			l := newLimiter(b, redisAddr(), prefix+"l:", nil)
			return l, l.Calls
		}},
		{"redis-nolease", func() (limits.Limiter, func() int64) {
			l := newLimiter(b, redisAddr(), prefix+"n:", func(c *redislimiter.Config) { c.LeaseWindow = -1 })
			return l, l.Calls
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			l, calls := c.lim()
			req := limits.Request{Key: "bench", Limit: limits.Limit{Rate: 1e6, Burst: 1000}, MaxWait: time.Second}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := l.Reserve(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(calls())/float64(b.N), "redis-calls/op")
		})
	}
}
