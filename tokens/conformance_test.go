package tokens_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/tokens"
	"github.com/onbehalf/onbehalf/tokens/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) tokens.Store { return tokens.NewMemoryStore() })
}

func TestMemoryStoreSharedConformance(t *testing.T) {
	// One store for every subtest, as a shared Redis or Postgres would be.
	s := tokens.NewMemoryStore()
	storetest.Run(t, func(*testing.T) tokens.Store { return s })
}

func TestCachedConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokens.Store {
		c, err := tokens.NewCached(tokens.NewMemoryStore(), tokens.CachedConfig{TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestSealedConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokens.Store {
		s, err := tokens.NewSealed(tokens.NewMemoryStore(), tokens.KeyRing{
			Keys: map[string][]byte{"k1": bytes.Repeat([]byte{1}, 32)}, Current: "k1"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestSealedCachedConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokens.Store {
		s, err := tokens.NewSealed(tokens.NewMemoryStore(), tokens.KeyRing{
			Keys: map[string][]byte{"k1": bytes.Repeat([]byte{1}, 32)}, Current: "k1"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := tokens.NewCached(s, tokens.CachedConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestMemoryLockerConformance(t *testing.T) {
	t.Parallel()
	storetest.RunLocker(t, func(*testing.T) tokens.Locker { return tokens.NewMemoryLocker() })
}

func TestMemoryLockerSharedConformance(t *testing.T) {
	t.Parallel()
	l := tokens.NewMemoryLocker()
	storetest.RunLocker(t, func(*testing.T) tokens.Locker { return l })
}

func TestMemoryLockerExtend(t *testing.T) {
	storetest.RunExtend(t, tokens.NewMemoryLocker())
}

func TestMemoryLockerDeadHolder(t *testing.T) {
	l := tokens.NewMemoryLocker()
	storetest.RunDeadHolder(t, l, l)
}

// Replicas of one process: separate Refreshers over one MemoryStore and one
// MemoryLocker.
func TestMemoryRefreshReplicas(t *testing.T) {
	s, l := tokens.NewMemoryStore(), tokens.NewMemoryLocker()
	storetest.RunRefresh(t, func(*testing.T, int) (tokens.Store, tokens.Locker) { return s, l })
}
