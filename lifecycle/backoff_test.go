package lifecycle

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	base, max := time.Second, time.Minute
	tests := []struct {
		attempt int
		nominal time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {6, 32 * time.Second},
		{7, time.Minute}, {50, time.Minute}, // capped, and no overflow
	}
	for _, tt := range tests {
		lo, hi := backoff(tt.attempt, base, max, 0), backoff(tt.attempt, base, max, 0.999999)
		if lo != tt.nominal/2 || hi > tt.nominal || hi < tt.nominal*99/100 {
			t.Errorf("attempt %d: range [%v, %v], want [%v, %v)", tt.attempt, lo, hi, tt.nominal/2, tt.nominal)
		}
	}
	// Jitter spreads retries: many draws are not all equal.
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[jitteredBackoff(3, base, max)] = true
	}
	if len(seen) < 2 {
		t.Errorf("jitteredBackoff gave one value over 20 draws")
	}
}
