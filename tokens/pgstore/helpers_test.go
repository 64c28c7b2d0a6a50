package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onbehalf/onbehalf/tokens/pgstore"
)

// pgDSN is the database the tests use: ONBEHALF_PG_DSN, or a local one.
func pgDSN() string {
	if d := os.Getenv("ONBEHALF_PG_DSN"); d != "" {
		return d
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// newPool returns a pool of the test database, closed at cleanup. When
// Postgres cannot be reached the test is skipped, or fails under CI=true.
func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgDSN())
	if err != nil {
		t.Fatalf("ONBEHALF_PG_DSN: %v", err)
	}
	// 16: the replica tests open four pools at once, and Postgres allows
	// 100 connections by default.
	cfg.MaxConns = 16
	cfg.ConnConfig.ConnectTimeout = 3 * time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = pool.Ping(ctx)
		cancel()
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("Postgres is not reachable: %v (CI=true: a store test may not be skipped)", err)
		}
		t.Skipf("Postgres is not reachable (%v); start one or set ONBEHALF_PG_DSN (CI=true turns this skip into a failure)", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// testTable returns a table name unique to this run, and drops its tables at
// cleanup.
func testTable(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	table := "onbehalftest_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = pool.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize()+", "+pgx.Identifier{table + "_leases"}.Sanitize()+", "+pgx.Identifier{table + "_metadata"}.Sanitize())
	})
	return table
}

// newStore returns a migrated Store over the test database with tables of its
// own, and the pool, for raw reads.
func newStore(t testing.TB) (*pgstore.Store, *pgxpool.Pool, string) {
	t.Helper()
	pool := newPool(t)
	table := testTable(t, pool)
	s, err := pgstore.New(pgstore.Config{Pool: pool, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, pool, table
}
