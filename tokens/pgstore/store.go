package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onbehalf/onbehalf/tokens"
)

// Config configures New.
type Config struct {
	// Pool is the connection pool. Required. The Store does not close it.
	Pool *pgxpool.Pool
	// Table is the connections table; the lease table is Table+"_leases",
	// the user metadata table (Store.Metadata) Table+"_metadata".
	// Empty means DefaultTable. It must be a lowercase identifier of at most
	// 48 characters (letters, digits, '_'); choose the schema with the
	// pool's search_path.
	Table string
	// Timeout bounds each statement of Get, List, Save, Delete and of the
	// Locker (not the wait of Lock, which ctx bounds). Zero means 5 seconds;
	// negative is an error. A statement that runs out of it fails with
	// ErrUnavailable.
	Timeout time.Duration
}

// Store is a tokens.Store and a tokens.Locker over Postgres, shared by every
// replica that uses the same database and Table. Build it with New and
// create its tables with Migrate (or apply Schema yourself). It is safe for
// concurrent use.
//
// Save is compare-and-swap on Version (UPDATE ... WHERE version = $n); a
// create is an INSERT that finds the row present and fails with ErrConflict.
// Times are stored as timestamptz, with microseconds: Save truncates
// CreatedAt and UpdatedAt to the microsecond, so what it sets on the
// connection equals what a later Get returns. Credential, Fields and the
// refresh intent (Connection.Refreshing) are jsonb.
//
// Errors wrap tokens.ErrNotFound, tokens.ErrConflict, or, when Postgres
// cannot be reached or fails, tokens.ErrUnavailable; when ctx ends first,
// ctx's error. No error names a credential.
type Store struct {
	pool    *pgxpool.Pool
	table   string
	timeout time.Duration
	now     func() time.Time
	q       queries
}

var (
	_ tokens.Store  = (*Store)(nil)
	_ tokens.Locker = (*Store)(nil)
)

// queries holds the statements, built once for the table.
type queries struct {
	get, getDefault, list, insert, update, version, delete string
	due, idle, unverified                                  string
	lock, release, extend                                  string
}

const columns = "integration, id, credential, fields, status, reason, refreshing, failures, last_error, version, created_at, updated_at," +
	" last_used_at, verified_at, verify_error"

func buildQueries(table string) queries {
	t, l := pgx.Identifier{table}.Sanitize(), pgx.Identifier{table + "_leases"}.Sanitize()
	return queries{
		get: "SELECT " + columns + " FROM " + t +
			" WHERE project = $1 AND user_id = $2 AND integration = $3 AND id = $4",
		getDefault: "SELECT " + columns + " FROM " + t +
			" WHERE project = $1 AND user_id = $2 AND integration = $3 ORDER BY created_at, id LIMIT 1",
		list: "SELECT " + columns + " FROM " + t +
			" WHERE project = $1 AND user_id = $2 ORDER BY integration, created_at, id",
		insert: "INSERT INTO " + t + " (project, user_id, integration, id, credential, fields, status, reason, refreshing, version, created_at, updated_at," +
			" failures, last_error, refresh_due, refreshed_at, last_used_at, verified_at, verify_error, verify_due)" +
			" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) ON CONFLICT DO NOTHING",
		update: "UPDATE " + t + " SET credential = $5, fields = $6, status = $7, reason = $8, refreshing = $9, version = version + 1, updated_at = $10," +
			" failures = $12, last_error = $13, refresh_due = $14, refreshed_at = CASE WHEN $15::boolean THEN COALESCE($16, created_at) END," +
			" last_used_at = $17, verified_at = $18, verify_error = $19, verify_due = CASE WHEN $15::boolean THEN COALESCE($18, created_at) END" +
			" WHERE project = $1 AND user_id = $2 AND integration = $3 AND id = $4 AND version = $11 RETURNING version, created_at",
		due: "SELECT project, user_id, integration, id FROM " + t +
			" WHERE refresh_due < $1 ORDER BY refresh_due LIMIT $2",
		idle: "SELECT project, user_id, integration, id FROM " + t +
			" WHERE integration = $1 AND refreshed_at < $2 ORDER BY refreshed_at LIMIT $3",
		unverified: "SELECT project, user_id, integration, id FROM " + t +
			" WHERE integration = $1 AND verify_due < $2 ORDER BY verify_due LIMIT $3",
		version: "SELECT version FROM " + t + " WHERE project = $1 AND user_id = $2 AND integration = $3 AND id = $4",
		delete:  "DELETE FROM " + t + " WHERE project = $1 AND user_id = $2 AND integration = $3 AND id = $4",
		lock: "INSERT INTO " + l + " AS held (key, holder, expires_at) VALUES ($1, $2, clock_timestamp() + $3 * interval '1 microsecond')" +
			" ON CONFLICT (key) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at" +
			" WHERE held.expires_at <= clock_timestamp() RETURNING holder",
		release: "DELETE FROM " + l + " WHERE key = $1 AND holder = $2 RETURNING expires_at > clock_timestamp()",
		extend: "UPDATE " + l + " SET expires_at = clock_timestamp() + $3 * interval '1 microsecond'" +
			" WHERE key = $1 AND holder = $2 AND expires_at > clock_timestamp()",
	}
}

// New checks cfg and returns a Store. It does not contact Postgres.
func New(cfg Config) (*Store, error) {
	if cfg.Pool == nil {
		return nil, errors.New("pgstore: Config.Pool is required")
	}
	table := cfg.Table
	if table == "" {
		table = DefaultTable
	}
	if !tableName.MatchString(table) {
		return nil, fmt.Errorf("pgstore: Config.Table %q must be a lowercase identifier of at most 48 characters", table)
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("pgstore: negative Config.Timeout")
	}
	s := &Store{pool: cfg.Pool, table: table, timeout: cfg.Timeout, now: time.Now, q: buildQueries(table)}
	if s.timeout == 0 {
		s.timeout = 5 * time.Second
	}
	return s, nil
}

// op returns the context of one statement, bounded by the Store's Timeout.
func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// fail wraps an error of Postgres: ctx's error when the caller's ctx ended,
// tokens.ErrUnavailable otherwise (our own Timeout included). Postgres error
// texts name no values (details, which can, are not part of Error()).
func fail(ctx context.Context, what string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("pgstore: %s: %w", what, cerr)
	}
	return fmt.Errorf("%w: pgstore: %s: %w", tokens.ErrUnavailable, what, err)
}

// validKey reports whether the parts of k can be stored: Postgres text holds
// UTF-8 without NUL.
func validKey(k tokens.Key) bool {
	for _, p := range []string{k.Project, k.User, k.Integration, k.ID} {
		if strings.IndexByte(p, 0) >= 0 || !utf8.ValidString(p) {
			return false
		}
	}
	return true
}

// stamp returns t as Postgres keeps it: UTC, microseconds.
func (s *Store) stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// scan reads one row of columns into a connection of project and user.
func scan(row pgx.Row, project, user string) (*tokens.Connection, error) {
	c := &tokens.Connection{Project: project, User: user}
	var cred, fields, refreshing []byte
	var status string
	var used, verified *time.Time
	if err := row.Scan(&c.Integration, &c.ID, &cred, &fields, &status, &c.Reason, &refreshing, &c.Failures, &c.LastError, &c.Version, &c.CreatedAt, &c.UpdatedAt,
		&used, &verified, &c.VerifyError); err != nil {
		return nil, err
	}
	if used != nil {
		c.LastUsed = used.UTC()
	}
	if verified != nil {
		c.Verified = verified.UTC()
	}
	c.Status = tokens.Status(status)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	// The JSON decoder's errors can quote the input: never pass them on.
	if json.Unmarshal(cred, &c.Credential) != nil || (fields != nil && json.Unmarshal(fields, &c.Fields) != nil) ||
		(refreshing != nil && json.Unmarshal(refreshing, &c.Refreshing) != nil) {
		return nil, fmt.Errorf("%w: pgstore: %s: malformed row", tokens.ErrUnavailable, c.Key())
	}
	if !c.Credential.Expiry.IsZero() {
		c.Credential.Expiry = c.Credential.Expiry.UTC()
	}
	return c, nil
}

// Get implements tokens.Store.
func (s *Store) Get(ctx context.Context, k tokens.Key) (*tokens.Connection, error) {
	if !validKey(k) {
		return nil, fmt.Errorf("%w: %s", tokens.ErrNotFound, k)
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	var row pgx.Row
	if k.ID != "" {
		row = s.pool.QueryRow(octx, s.q.get, k.Project, k.User, k.Integration, k.ID)
	} else {
		row = s.pool.QueryRow(octx, s.q.getDefault, k.Project, k.User, k.Integration)
	}
	c, err := scan(row, k.Project, k.User)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("%w: %s", tokens.ErrNotFound, k)
	case errors.Is(err, tokens.ErrUnavailable):
		return nil, err
	case err != nil:
		return nil, fail(ctx, "get "+k.String(), err)
	}
	return c, nil
}

// List implements tokens.Store.
func (s *Store) List(ctx context.Context, project, user string) ([]*tokens.Connection, error) {
	what := "list " + project + "/" + user
	if !validKey(tokens.Key{Project: project, User: user}) {
		return nil, nil
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.pool.Query(octx, s.q.list, project, user)
	if err != nil {
		return nil, fail(ctx, what, err)
	}
	defer rows.Close()
	var out []*tokens.Connection
	for rows.Next() {
		c, err := scan(rows, project, user)
		if errors.Is(err, tokens.ErrUnavailable) {
			return nil, err
		}
		if err != nil {
			return nil, fail(ctx, what, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, what, err)
	}
	return out, nil
}

// encode returns the jsonb values of c's credential, fields and refresh
// intent (nil for none).
func encode(c *tokens.Connection) (cred, fields, refreshing []byte, err error) {
	cr := c.Credential
	if !cr.Expiry.IsZero() {
		cr.Expiry = cr.Expiry.UTC()
	}
	if cred, err = json.Marshal(cr); err == nil && c.Fields != nil {
		fields, err = json.Marshal(c.Fields)
	}
	if err == nil && c.Refreshing != nil {
		refreshing, err = json.Marshal(c.Refreshing)
	}
	if err != nil {
		// Its error could quote a value: it is not passed on.
		return nil, nil, nil, fmt.Errorf("pgstore: save %s: cannot encode the connection", c.Key())
	}
	return cred, fields, refreshing, nil
}

// Save implements tokens.Store. On update the stored CreatedAt is kept (and
// copied to c).
func (s *Store) Save(ctx context.Context, c *tokens.Connection) error {
	k := c.Key()
	if c.Version == 0 && k.ID == "" {
		k.ID = tokens.NewID()
	}
	if k.ID == "" || !validKey(k) {
		return fmt.Errorf("pgstore: save %s: invalid key (an update needs the ID; no part may hold NUL or invalid UTF-8)", k)
	}
	cred, fields, refreshing, err := encode(c)
	if err != nil {
		return err
	}
	now := s.stamp(s.now())
	octx, cancel := s.op(ctx)
	defer cancel()
	if c.Version == 0 {
		created := now
		if !c.CreatedAt.IsZero() {
			created = s.stamp(c.CreatedAt)
		}
		probe := *c
		probe.CreatedAt = created
		due, refreshed := tokens.Schedule(&probe)
		tag, err := s.pool.Exec(octx, s.q.insert, k.Project, k.User, k.Integration, k.ID, cred, fields, string(c.Status), c.Reason, refreshing, created, now,
			c.Failures, c.LastError, s.nullTime(due), s.nullTime(refreshed), s.nullTime(c.LastUsed), s.nullTime(c.Verified), c.VerifyError,
			s.nullTime(tokens.VerifySchedule(&probe)))
		if err != nil {
			return fail(ctx, "save "+k.String(), err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %s exists", tokens.ErrConflict, k)
		}
		c.ID, c.Version, c.CreatedAt, c.UpdatedAt = k.ID, 1, created, now
		return nil
	}
	var version int64
	var created time.Time
	// The last refresh falls back to the stored created_at (see tokens.Schedule).
	due, _ := tokens.Schedule(c)
	var obtained *time.Time
	if !c.Credential.ObtainedAt.IsZero() {
		obtained = s.nullTime(c.Credential.ObtainedAt)
	}
	err = s.pool.QueryRow(octx, s.q.update, k.Project, k.User, k.Integration, k.ID, cred, fields, string(c.Status), c.Reason, refreshing, now, c.Version,
		c.Failures, c.LastError, s.nullTime(due), c.Active(), obtained, s.nullTime(c.LastUsed), s.nullTime(c.Verified), c.VerifyError).
		Scan(&version, &created)
	if err == nil {
		c.Version, c.CreatedAt, c.UpdatedAt = version, created.UTC(), now
		return nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return fail(ctx, "save "+k.String(), err)
	}
	// No row updated: the connection is gone, or at another version.
	err = s.pool.QueryRow(octx, s.q.version, k.Project, k.User, k.Integration, k.ID).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: %s", tokens.ErrNotFound, k)
	case err != nil:
		return fail(ctx, "save "+k.String(), err)
	}
	return fmt.Errorf("%w: %s at version %d, not %d", tokens.ErrConflict, k, version, c.Version)
}

// Delete implements tokens.Store.
func (s *Store) Delete(ctx context.Context, k tokens.Key) error {
	if k.ID == "" {
		return fmt.Errorf("%w: delete needs a connection id: %s", tokens.ErrNotFound, k)
	}
	if !validKey(k) {
		return fmt.Errorf("%w: %s", tokens.ErrNotFound, k)
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	tag, err := s.pool.Exec(octx, s.q.delete, k.Project, k.User, k.Integration, k.ID)
	if err != nil {
		return fail(ctx, "delete "+k.String(), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", tokens.ErrNotFound, k)
	}
	return nil
}
