package redisstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/tokens"
)

func newKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

func mustSealed(t *testing.T, s tokens.Store, current string, keys map[string][]byte) *tokens.Sealed {
	t.Helper()
	sealed, err := tokens.NewSealed(s, tokens.KeyRing{Keys: keys, Current: current})
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

// raw returns every field of every hash under the prefix, as Redis holds them.
func raw(t *testing.T, rdb *redis.Client, pattern string) string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, pattern).Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("KEYS %s: %v, %v", pattern, keys, err)
	}
	var b strings.Builder
	for _, k := range keys {
		m, err := rdb.HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		for f, v := range m {
			b.WriteString(k + " " + f + "=" + v + "\n")
		}
	}
	return b.String()
}

// Through tokens.Sealed, Redis holds no secret: reading the hash straight from
// Redis finds neither token. Key rotation works across the real store.
func TestSealedAtRest(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	k1, k2 := newKey(), newKey()
	sealed := mustSealed(t, s, "k1", map[string][]byte{"k1": k1})
	secrets := []string{"plain-access-6f1c", "plain-refresh-93ab", "plain-apikey-51d0", "plain-password-c2e7"}
	c := &tokens.Connection{Project: "p-sealed", User: "u", Integration: "x",
		Credential: tokens.Credential{AccessToken: secrets[0], RefreshToken: secrets[1], APIKey: secrets[2], Username: "user", Password: secrets[3]},
		Fields:     map[string]string{"instance_url": "https://i.example"}}
	if err := sealed.Save(ctx, c); err != nil {
		t.Fatal(err)
	}
	connKeys := "*{p-sealed:u}:c:*"
	stored := raw(t, rdb, connKeys)
	for _, sec := range secrets {
		if strings.Contains(stored, sec) {
			t.Fatalf("Redis holds a secret in the clear: %q", sec)
		}
	}
	if !strings.Contains(stored, `"sealed":"v1:k1:`) || !strings.Contains(stored, "https://i.example") {
		t.Fatalf("stored value lacks the sealed credential or the clear fields:\n%s", stored)
	}

	// Rotation: k2 becomes current; k1 still opens what it sealed.
	rotated := mustSealed(t, s, "k2", map[string][]byte{"k1": k1, "k2": k2})
	got, err := rotated.Get(ctx, c.Key())
	if err != nil || got.Credential.RefreshToken != secrets[1] {
		t.Fatalf("Get of a k1 value with k2 current: %v (refresh token matches: %v)", err, err == nil && got.Credential.RefreshToken == secrets[1])
	}
	got.Credential.AccessToken = "plain-access-rotated-0d4e"
	if err := rotated.Save(ctx, got); err != nil {
		t.Fatal(err)
	}
	stored = raw(t, rdb, connKeys)
	if !strings.Contains(stored, `"sealed":"v1:k2:`) || strings.Contains(stored, "v1:k1:") || strings.Contains(stored, "plain-access-rotated") {
		t.Fatalf("after a save with k2 current, the value is not resealed with k2 alone:\n%s", stored)
	}
	// Once nothing is sealed with k1, a ring without it opens everything.
	onlyK2 := mustSealed(t, s, "k2", map[string][]byte{"k2": k2})
	if got, err := onlyK2.Get(ctx, tokens.Key{Project: "p-sealed", User: "u", Integration: "x"}); err != nil || got.Credential.AccessToken != "plain-access-rotated-0d4e" {
		t.Fatalf("Get with k2 only: %v", err)
	}
	onlyK1 := mustSealed(t, s, "k1", map[string][]byte{"k1": k1})
	if _, err := onlyK1.Get(ctx, c.Key()); !errors.Is(err, tokens.ErrSealed) {
		t.Fatalf("Get with k1 only: %v, want ErrSealed", err)
	}
	// The plain store hands back only the sealed form.
	if plain, err := s.Get(ctx, c.Key()); err != nil || plain.Credential.AccessToken != "" || plain.Credential.Sealed == "" {
		t.Fatalf("plain Get: %v; want a credential with only Sealed set", err)
	}
}
