package pgstore

import (
	"context"
	"regexp"
	"strings"
)

// DefaultTable is the connections table when Config.Table is empty.
const DefaultTable = "onbehalf_connections"

// Schema is the SQL that Migrate runs, for the default table name. For
// another Config.Table, every "onbehalf_connections" in it becomes that
// name (so the lease table is Table+"_leases" and the user metadata table,
// see Store.Metadata, Table+"_metadata"). Each statement is
// idempotent; the ALTER TABLE statements bring a table created before the
// reason, refreshing, failures, last_error, refresh_due, refreshed_at,
// last_used_at, verified_at, verify_error and verify_due columns existed up to
// date. refresh_due and refreshed_at are the tokens.Schedule of the row (NULL
// when not indexed), verify_due its tokens.VerifySchedule, written by every
// Save; two partial indexes serve tokens.DueIndex, a third
// tokens.VerifyIndex. Rows written before they
// existed are indexed by their next Save. Text columns that order results use the "C" collation, so
// Postgres orders them by bytes, as every tokens.Store does.
const Schema = `CREATE TABLE IF NOT EXISTS onbehalf_connections (
    project     text COLLATE "C" NOT NULL,
    user_id     text COLLATE "C" NOT NULL,
    integration text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    credential  jsonb            NOT NULL,
    fields      jsonb,
    status      text             NOT NULL DEFAULT '',
    reason      text             NOT NULL DEFAULT '',
    refreshing  jsonb,
    failures    integer          NOT NULL DEFAULT 0,
    last_error  text             NOT NULL DEFAULT '',
    refresh_due  timestamptz,
    refreshed_at timestamptz,
    last_used_at timestamptz,
    verified_at  timestamptz,
    verify_error text            NOT NULL DEFAULT '',
    verify_due   timestamptz,
    version     bigint           NOT NULL,
    created_at  timestamptz      NOT NULL,
    updated_at  timestamptz      NOT NULL,
    PRIMARY KEY (project, user_id, integration, id)
);
ALTER TABLE onbehalf_connections ADD COLUMN IF NOT EXISTS reason text NOT NULL DEFAULT '';
ALTER TABLE onbehalf_connections ADD COLUMN IF NOT EXISTS refreshing jsonb;
ALTER TABLE onbehalf_connections ADD COLUMN IF NOT EXISTS failures integer NOT NULL DEFAULT 0;
ALTER TABLE onbehalf_connections ADD COLUMN IF NOT EXISTS last_error text NOT NULL DEFAULT '';
ALTER TABLE onbehalf_connections ADD COLUMN IF NOT EXISTS refresh_due timestamptz;
ALTER TABLE onbehalf_connections ADD COLUMN IF NOT EXISTS refreshed_at timestamptz;
ALTER TABLE onbehalf_connections ADD COLUMN IF NOT EXISTS last_used_at timestamptz;
ALTER TABLE onbehalf_connections ADD COLUMN IF NOT EXISTS verified_at timestamptz;
ALTER TABLE onbehalf_connections ADD COLUMN IF NOT EXISTS verify_error text NOT NULL DEFAULT '';
ALTER TABLE onbehalf_connections ADD COLUMN IF NOT EXISTS verify_due timestamptz;
CREATE INDEX IF NOT EXISTS onbehalf_connections_due_idx
    ON onbehalf_connections (refresh_due) WHERE refresh_due IS NOT NULL;
CREATE INDEX IF NOT EXISTS onbehalf_connections_idle_idx
    ON onbehalf_connections (integration, refreshed_at) WHERE refreshed_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS onbehalf_connections_verify_idx
    ON onbehalf_connections (integration, verify_due) WHERE verify_due IS NOT NULL;
CREATE INDEX IF NOT EXISTS onbehalf_connections_age_idx
    ON onbehalf_connections (project, user_id, integration, created_at, id);
CREATE TABLE IF NOT EXISTS onbehalf_connections_leases (
    key        text        PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS onbehalf_connections_metadata (
    project    text COLLATE "C" NOT NULL,
    user_id    text COLLATE "C" NOT NULL,
    meta       jsonb            NOT NULL,
    updated_at timestamptz      NOT NULL,
    PRIMARY KEY (project, user_id)
);
`

// tableName is what Config.Table may be: a lowercase SQL identifier short
// enough that Table+"_leases" and Table+"_age_idx" fit Postgres's 63 bytes.
var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

// schemaFor returns Schema for table.
func schemaFor(table string) string {
	return strings.ReplaceAll(Schema, DefaultTable, table)
}

// migrateLock is the advisory lock that serializes concurrent Migrate calls
// (CREATE ... IF NOT EXISTS can still race on the catalog).
const migrateLock = 0x6f6e62656861 // "onbeha"

// Migrate creates the tables and index if they do not exist. It is
// idempotent and safe to run from several replicas at once; run it at start
// up, or apply Schema with your own migration tool instead.
func (s *Store) Migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fail(ctx, "migrate", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrateLock)); err != nil {
		return fail(ctx, "migrate", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrateLock))
	if _, err := conn.Exec(ctx, schemaFor(s.table)); err != nil {
		return fail(ctx, "migrate", err)
	}
	return nil
}
