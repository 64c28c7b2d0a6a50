package upstream_test

import (
	"testing"

	"github.com/onbehalf/onbehalf/limits"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// TestLimitsOneReplica: one replica with the in-process limiter, offered four
// times the provider's per-account rate by two users of the same account,
// keeps the provider within its rate and near it.
func TestLimitsOneReplica(t *testing.T) {
	onbehalftest.RunLimits(t, onbehalftest.LimitsConfig{
		Rate: 20, NewLimiter: func(*testing.T, int) limits.Limiter { return limits.NewLocal() },
	})
}
