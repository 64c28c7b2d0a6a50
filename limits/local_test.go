package limits_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/limits"
)

// TestLocalSpacing: permits reserved while a block holds, and after it, are
// spaced by the rate, never bunched at the block's end.
func TestLocalSpacing(t *testing.T) {
	l := limits.NewLocal()
	ctx := context.Background()
	lim := limits.Limit{Rate: 50, Burst: 1}
	start := time.Now()
	var at []time.Duration
	take := func() {
		d, err := l.Reserve(ctx, limits.Request{Key: "k", BlockKey: "b", Limit: lim, MaxWait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			at = append(at, time.Since(start)+d.Wait)
		}
	}
	for range 5 {
		take()
	}
	if err := l.Block(ctx, "b", time.Now().Add(200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		take()
		time.Sleep(time.Millisecond)
	}
	slices.Sort(at)
	for i := 1; i < len(at); i++ {
		if gap := at[i] - at[i-1]; gap < 18*time.Millisecond {
			t.Fatalf("permits %d and %d are %v apart, want about 20ms: %v", i-1, i, gap, at)
		}
	}
}
