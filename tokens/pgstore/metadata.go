package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/onbehalf/onbehalf/tokens"
)

// Metadata is a tokens.Metadata over the Store's database: one jsonb row
// per user in Table+"_metadata", created by Migrate. Get it from
// Store.Metadata; it is safe for concurrent use.
type Metadata struct {
	s                *Store
	get, put, delete string
}

var _ tokens.Metadata = (*Metadata)(nil)

// Metadata returns the user metadata store that shares s's pool, table
// name and timeout.
func (s *Store) Metadata() *Metadata {
	t := pgx.Identifier{s.table + "_metadata"}.Sanitize()
	return &Metadata{s: s,
		get: "SELECT meta FROM " + t + " WHERE project = $1 AND user_id = $2",
		put: "INSERT INTO " + t + " (project, user_id, meta, updated_at) VALUES ($1, $2, $3, now())" +
			" ON CONFLICT (project, user_id) DO UPDATE SET meta = EXCLUDED.meta, updated_at = EXCLUDED.updated_at",
		delete: "DELETE FROM " + t + " WHERE project = $1 AND user_id = $2",
	}
}

// validText reports whether Postgres text can hold s.
func validText(s string) bool { return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) }

// Get implements tokens.Metadata.
func (m *Metadata) Get(ctx context.Context, project, user string) (map[string]any, error) {
	if !validText(project) || !validText(user) {
		return map[string]any{}, nil
	}
	octx, cancel := m.s.op(ctx)
	defer cancel()
	var b []byte
	err := m.s.pool.QueryRow(octx, m.get, project, user).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, fail(ctx, "get metadata", err)
	}
	meta, err := tokens.DecodeMetadata(b)
	if err != nil {
		return nil, fmt.Errorf("%w: pgstore: malformed metadata", tokens.ErrUnavailable)
	}
	return meta, nil
}

// Put implements tokens.Metadata.
func (m *Metadata) Put(ctx context.Context, project, user string, meta map[string]any) error {
	if !validText(project) || !validText(user) {
		return errors.New("pgstore: project and user must be UTF-8 without NUL")
	}
	octx, cancel := m.s.op(ctx)
	defer cancel()
	if len(meta) == 0 {
		if _, err := m.s.pool.Exec(octx, m.delete, project, user); err != nil {
			return fail(ctx, "delete metadata", err)
		}
		return nil
	}
	b, err := tokens.EncodeMetadata(meta)
	if err != nil {
		return err
	}
	if _, err := m.s.pool.Exec(octx, m.put, project, user, string(b)); err != nil {
		return fail(ctx, "put metadata", err)
	}
	return nil
}
