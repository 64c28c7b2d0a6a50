package redislimiter_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/limits"
	"github.com/onbehalf/onbehalf/limits/redislimiter"
)

// TestLeasesAddUp: two requests that miss the lease at once both lease a
// batch from Redis; the replica keeps both batches (every permit taken from
// Redis is used before Redis is asked again), not only the last.
func TestLeasesAddUp(t *testing.T) {
	needRedis(t, redisAddr())
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr()})
	t.Cleanup(func() { rdb.Close() })
	l, err := redislimiter.New(redislimiter.Config{Client: rdb, Prefix: fmt.Sprintf("test:limits:lease:%d:", time.Now().UnixNano()),
		Timeout: 5 * time.Second, LeaseWindow: 10 * time.Second, MaxLease: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := limits.Request{Key: "k", Limit: limits.Limit{Rate: 1000, Burst: 100}, MaxWait: time.Second}
	// Load the script first, so that each request below is one EVALSHA.
	if _, err := l.Reserve(ctx, limits.Request{Key: "warm", Limit: req.Limit}); err != nil {
		t.Fatal(err)
	}
	hook := &barrierHook{arrived: make(chan struct{}, 2), release: make(chan struct{})}
	rdb.AddHook(hook)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if d, err := l.Reserve(ctx, req); err != nil || !d.Allowed {
				t.Errorf("got %+v, %v, want a permit", d, err)
			}
		}()
	}
	<-hook.arrived
	<-hook.arrived // both requests are at Redis: neither found a lease
	close(hook.release)
	wg.Wait()
	before := l.Calls()
	for i := range 6 { // two batches of 4, less the two permits used
		if d, err := l.Reserve(ctx, req); err != nil || !d.Allowed {
			t.Fatalf("leased permit %d: got %+v, %v", i+1, d, err)
		}
	}
	if n := l.Calls() - before; n != 0 {
		t.Fatalf("%d Redis calls for 6 permits leased in two batches, want 0: a batch was dropped", n)
	}
	if _, err := l.Reserve(ctx, req); err != nil || l.Calls() != before+1 {
		t.Fatalf("the 7th permit: %v, %d calls, want one Redis call once the batches are spent", err, l.Calls()-before)
	}
}

// barrierHook holds the first two commands until both have arrived.
type barrierHook struct {
	n       atomic.Int32
	arrived chan struct{}
	release chan struct{}
}

func (h *barrierHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *barrierHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.n.Add(1) <= 2 {
			h.arrived <- struct{}{}
			<-h.release
		}
		return next(ctx, cmd)
	}
}

func (h *barrierHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
