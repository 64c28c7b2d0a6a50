package pgstore_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onbehalf/onbehalf/tokens"
	"github.com/onbehalf/onbehalf/tokens/pgstore"
)

// Schema is plain SQL, for a migration tool or a README.
func ExampleSchema() {
	first, _, _ := strings.Cut(pgstore.Schema, "\n")
	fmt.Println(first)
	// Output: CREATE TABLE IF NOT EXISTS onbehalf_connections (
}

// New checks its Config once: the table name is an identifier, never SQL.
func ExampleNew() {
	pool, _ := pgxpool.New(context.Background(), "postgres://localhost/app") // connects lazily
	defer pool.Close()
	_, err := pgstore.New(pgstore.Config{Pool: pool, Table: "tokens; DROP TABLE users"})
	fmt.Println(err)
	// Output: pgstore: Config.Table "tokens; DROP TABLE users" must be a lowercase identifier of at most 48 characters
}

// A shared store and locker for a Refresher, with the Sealed and Cached
// decorators in front. (It needs a live Postgres, so it has no output.)
func Example_replicas() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	shared, err := pgstore.New(pgstore.Config{Pool: pool})
	if err != nil {
		panic(err)
	}
	if err := shared.Migrate(ctx); err != nil {
		panic(err)
	}
	key := make([]byte, 32) // load it from your secret manager
	sealed, err := tokens.NewSealed(shared, tokens.KeyRing{Keys: map[string][]byte{"2025-01": key}, Current: "2025-01"})
	if err != nil {
		panic(err)
	}
	store, err := tokens.NewCached(sealed, tokens.CachedConfig{TTL: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	refresher, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store, Locker: shared})
	if err != nil {
		panic(err)
	}
	_ = refresher // pass store and refresher to middleware.Config
}
