package pgstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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

// raw returns the rows of table as Postgres holds them, as text.
func raw(t *testing.T, pool *pgxpool.Pool, table string) string {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT t::text FROM "+pgx.Identifier{table}.Sanitize()+" AS t")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(lines) == 0 {
		t.Fatalf("SELECT: %d rows, %v", len(lines), err)
	}
	return strings.Join(lines, "\n")
}

// Through tokens.Sealed, Postgres holds no secret: selecting the rows straight
// from the table finds neither token. Key rotation works across the real
// store.
func TestSealedAtRest(t *testing.T) {
	s, pool, table := newStore(t)
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
	stored := raw(t, pool, table)
	for _, sec := range secrets {
		if strings.Contains(stored, sec) {
			t.Fatalf("Postgres holds a secret in the clear: %q", sec)
		}
	}
	if !strings.Contains(stored, `v1:k1:`) || !strings.Contains(stored, "https://i.example") {
		t.Fatalf("stored row lacks the sealed credential or the clear fields:\n%s", stored)
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
	stored = raw(t, pool, table)
	if !strings.Contains(stored, `v1:k2:`) || strings.Contains(stored, "v1:k1:") || strings.Contains(stored, "plain-access-rotated") {
		t.Fatalf("after a save with k2 current, the row is not resealed with k2 alone:\n%s", stored)
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
