package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/onbehalf/onbehalf/lifecycle"
	"github.com/onbehalf/onbehalf/tokens"
)

// OutboxSchema is the SQL that Outbox.Migrate runs, for the default table
// name: the outbox table is the connections table's name + "_outbox". Each
// statement is idempotent.
const OutboxSchema = `CREATE TABLE IF NOT EXISTS onbehalf_connections_outbox (
    id     text COLLATE "C" PRIMARY KEY,
    entry  jsonb            NOT NULL,
    due_at timestamptz      NOT NULL
);
CREATE INDEX IF NOT EXISTS onbehalf_connections_outbox_due_idx
    ON onbehalf_connections_outbox (due_at, id);
`

// Outbox is a lifecycle.Outbox in Postgres, shared by every replica that
// uses the same database and Table. Get it from Store.Outbox and create its
// table with Migrate (or apply OutboxSchema yourself). It is safe for
// concurrent use.
//
// One row per event: its lifecycle.Entry as jsonb and when it is due. A
// claim is one statement that selects the due rows FOR UPDATE SKIP LOCKED
// and moves them past their lease, so concurrent claimers never get one
// entry within a lease and never wait for each other.
type Outbox struct {
	s                             *Store
	table                         string
	add, claim, ack, nack, schema string
}

var _ lifecycle.Outbox = (*Outbox)(nil)

// Outbox returns the outbox of lifecycle events kept beside the store's
// connections, in the table Table+"_outbox".
func (s *Store) Outbox() *Outbox {
	name := s.table + "_outbox"
	t := pgx.Identifier{name}.Sanitize()
	return &Outbox{s: s, table: name,
		add: "INSERT INTO " + t + " (id, entry, due_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
		claim: "WITH c AS (SELECT id, due_at FROM " + t + " WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)," +
			" u AS (UPDATE " + t + " o SET due_at = $3 FROM c WHERE o.id = c.id RETURNING o.id, o.entry, c.due_at AS was)" +
			" SELECT entry FROM u ORDER BY was, id",
		ack:    "DELETE FROM " + t + " WHERE id = $1",
		nack:   "UPDATE " + t + " SET entry = $2, due_at = $3 WHERE id = $1",
		schema: strings.ReplaceAll(OutboxSchema, DefaultTable, s.table),
	}
}

// Migrate creates the outbox table and its index if they do not exist. It is
// idempotent and safe to run from several replicas at once.
func (o *Outbox) Migrate(ctx context.Context) error {
	conn, err := o.s.pool.Acquire(ctx)
	if err != nil {
		return fail(ctx, "outbox migrate", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrateLock)); err != nil {
		return fail(ctx, "outbox migrate", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrateLock))
	if _, err := conn.Exec(ctx, o.schema); err != nil {
		return fail(ctx, "outbox migrate", err)
	}
	return nil
}

// Table returns the outbox table's name.
func (o *Outbox) Table() string { return o.table }

func encodeEntry(e lifecycle.Entry) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, errors.New("pgstore: outbox: cannot encode the event")
	}
	return b, nil
}

// Add implements lifecycle.Outbox.
func (o *Outbox) Add(ctx context.Context, ev lifecycle.Event) error {
	b, err := encodeEntry(lifecycle.Entry{Event: ev})
	if err != nil {
		return err
	}
	octx, cancel := o.s.op(ctx)
	defer cancel()
	if _, err := o.s.pool.Exec(octx, o.add, ev.ID, b, ev.Time); err != nil {
		return fail(ctx, "outbox add", err)
	}
	return nil
}

// Claim implements lifecycle.Outbox.
func (o *Outbox) Claim(ctx context.Context, req lifecycle.ClaimRequest) ([]lifecycle.Entry, error) {
	if req.Limit < 1 || req.Lease <= 0 {
		return nil, errors.New("pgstore: outbox claim: Limit and Lease must be positive")
	}
	octx, cancel := o.s.op(ctx)
	defer cancel()
	rows, err := o.s.pool.Query(octx, o.claim, req.Now, req.Limit, req.Now.Add(req.Lease))
	if err != nil {
		return nil, fail(ctx, "outbox claim", err)
	}
	raw, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fail(ctx, "outbox claim", err)
	}
	out := make([]lifecycle.Entry, 0, len(raw))
	for _, b := range raw {
		var e lifecycle.Entry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("%w: pgstore: outbox: malformed entry", tokens.ErrUnavailable)
		}
		out = append(out, e)
	}
	return out, nil
}

// Ack implements lifecycle.Outbox.
func (o *Outbox) Ack(ctx context.Context, id string) error {
	octx, cancel := o.s.op(ctx)
	defer cancel()
	if _, err := o.s.pool.Exec(octx, o.ack, id); err != nil {
		return fail(ctx, "outbox ack", err)
	}
	return nil
}

// Nack implements lifecycle.Outbox.
func (o *Outbox) Nack(ctx context.Context, e lifecycle.Entry, retryAt time.Time) error {
	b, err := encodeEntry(e)
	if err != nil {
		return err
	}
	octx, cancel := o.s.op(ctx)
	defer cancel()
	if _, err := o.s.pool.Exec(octx, o.nack, e.Event.ID, b, retryAt); err != nil {
		return fail(ctx, "outbox nack", err)
	}
	return nil
}
