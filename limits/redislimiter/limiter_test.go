package redislimiter_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/limits"
	"github.com/onbehalf/onbehalf/limits/redislimiter"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// redisAddr is the Redis the tests share: ONBEHALF_REDIS_ADDR, or a local
// one (as in tokens/redisstore).
func redisAddr() string {
	if a := os.Getenv("ONBEHALF_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

func newLimiter(t testing.TB, addr, prefix string, mod func(*redislimiter.Config)) *redislimiter.Limiter {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	cfg := redislimiter.Config{Client: rdb, Prefix: prefix}
	if mod != nil {
		mod(&cfg)
	}
	l, err := redislimiter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// needRedis skips t when no Redis answers at addr, or fails it under
// CI=true, where a limiter test may not be skipped.
func needRedis(t testing.TB, addr string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Redis at %s: %v (CI=true: a limiter test may not be skipped)", addr, err)
		}
		t.Skipf("no Redis at %s: %v; start one or set ONBEHALF_REDIS_ADDR (CI=true turns this skip into a failure)", addr, err)
	}
}

// TestThreeReplicas: three handlers, each with its own Redis client, share
// the per-account limit: the provider sees the rate of one.
func TestThreeReplicas(t *testing.T) {
	needRedis(t, redisAddr())
	prefix := fmt.Sprintf("test:limits:%d:", time.Now().UnixNano())
	onbehalftest.RunLimits(t, onbehalftest.LimitsConfig{
		Replicas: 3, Rate: 10,
		NewLimiter: func(t *testing.T, i int) limits.Limiter {
			// A generous timeout: under -race on a small machine a 100 ms
			// bound trips and the run would measure the fallback instead.
			return newLimiter(t, redisAddr(), prefix, func(c *redislimiter.Config) { c.Timeout = time.Second })
		},
	})
}

// startRedis starts a redis-server of the test's own on port and returns a
// function that stops it.
func startRedis(t *testing.T, port int) func() {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no redis-server binary (CI=true: the outage test may not be skipped)")
		}
		t.Skip("no redis-server binary: the outage test starts one of its own")
	}
	cmd := exec.Command(path, "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for i := 0; ; i++ {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		err := rdb.Ping(context.Background()).Err()
		rdb.Close()
		if err == nil {
			break
		}
		if i > 50 {
			t.Fatalf("redis-server on %s did not start: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestOutage: Redis (a server of the test's own) stops mid-run. Failing
// open, requests keep flowing under the in-process limits; failing closed,
// the limiter answers ErrUnavailable within its timeout. Both recover
// without a restart once Redis is back.
func TestOutage(t *testing.T) {
	const port = 6391
	for _, closed := range []bool{false, true} {
		t.Run(fmt.Sprintf("failClosed=%v", closed), func(t *testing.T) {
			stop := startRedis(t, port)
			addr := "127.0.0.1:" + strconv.Itoa(port)
			l := newLimiter(t, addr, "outage:", func(c *redislimiter.Config) {
				c.FailClosed = closed
				c.Retry = 100 * time.Millisecond
			})
			ctx := context.Background()
			req := limits.Request{Key: "k", Limit: limits.Limit{Rate: 1000, Burst: 10}, MaxWait: time.Second}
			if d, err := l.Reserve(ctx, req); err != nil || !d.Allowed {
				t.Fatalf("with Redis up: got %+v, %v", d, err)
			}
			stop()
			time.Sleep(100 * time.Millisecond) // leases run out
			for range 20 {
				start := time.Now()
				d, err := l.Reserve(ctx, req)
				if took := time.Since(start); took > 500*time.Millisecond {
					t.Fatalf("a call took %v with Redis down, want it bounded by the timeout", took)
				}
				if closed && (err == nil || !errorsIs(err, limits.ErrUnavailable)) {
					t.Fatalf("failing closed: got %+v, %v, want ErrUnavailable", d, err)
				}
				if !closed && (err != nil || !d.Allowed) {
					t.Fatalf("failing open: got %+v, %v, want a permit", d, err)
				}
			}
			startRedis(t, port)
			deadline := time.Now().Add(3 * time.Second)
			for {
				before := l.Calls()
				d, err := l.Reserve(ctx, req)
				if err == nil && d.Allowed && l.Calls() > before {
					break // answered by Redis again
				}
				if time.Now().After(deadline) {
					t.Fatalf("no recovery after Redis came back: %+v, %v", d, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
