package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onbehalf/onbehalf/lifecycle"
	"github.com/onbehalf/onbehalf/lifecycle/outboxtest"
	"github.com/onbehalf/onbehalf/tokens/pgstore"
)

// TestOutbox runs the outbox conformance suite, its restart and delivery
// checks included, against a real Postgres: each Open is a new pool and
// Store over the same table, as a restarted replica has.
func TestOutbox(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T) outboxtest.Open {
		pool := newPool(t)
		table := testTable(t, pool)
		open := func() lifecycle.Outbox {
			p, err := pgxpool.New(context.Background(), pgDSN())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			s, err := pgstore.New(pgstore.Config{Pool: p, Table: table})
			if err != nil {
				t.Fatal(err)
			}
			return s.Outbox()
		}
		o := open().(*pgstore.Outbox)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := o.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := o.Migrate(ctx); err != nil { // idempotent
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{o.Table()}.Sanitize())
		})
		return open
	})
}
