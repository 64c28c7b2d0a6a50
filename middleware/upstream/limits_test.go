package upstream_test

import (
	"testing"

	"github.com/onbehalf/onbehalf/limits"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// TestLimitsOneReplica: one replica with the in-process limiter, offered
// several times the provider's per-account rate (N = 50/s, 150 clients) by
// two users of the same account, keeps the provider within its rate (at most
// N×1.1+1 in any second, at most 1% answered 429) and near it (at least
// 0.9 N accepted per second).
func TestLimitsOneReplica(t *testing.T) {
	onbehalftest.RunLimits(t, onbehalftest.LimitsConfig{
		Rate: 50, NewLimiter: func(*testing.T, int) limits.Limiter { return limits.NewLocal() },
	})
}
