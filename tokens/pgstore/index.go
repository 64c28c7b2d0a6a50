package pgstore

import (
	"context"
	"time"

	"github.com/onbehalf/onbehalf/tokens"
)

var (
	_ tokens.DueIndex    = (*Store)(nil)
	_ tokens.VerifyIndex = (*Store)(nil)
)

// nullTime is t as stored, or NULL for the zero time.
func (s *Store) nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	st := s.stamp(t)
	return &st
}

// Due implements tokens.DueIndex: one index range scan of refresh_due.
func (s *Store) Due(ctx context.Context, before time.Time, limit int) ([]tokens.Key, error) {
	return s.keys(ctx, "due", s.q.due, before, limit)
}

// Idle implements tokens.DueIndex: one index range scan of (integration,
// refreshed_at).
func (s *Store) Idle(ctx context.Context, integration string, before time.Time, limit int) ([]tokens.Key, error) {
	return s.keys(ctx, "idle", s.q.idle, integration, before, limit)
}

// Unverified implements tokens.VerifyIndex: one index range scan of
// (integration, verify_due).
func (s *Store) Unverified(ctx context.Context, integration string, before time.Time, limit int) ([]tokens.Key, error) {
	return s.keys(ctx, "unverified", s.q.unverified, integration, before, limit)
}

func (s *Store) keys(ctx context.Context, what, q string, args ...any) ([]tokens.Key, error) {
	if limit, _ := args[len(args)-1].(int); limit <= 0 {
		return nil, nil
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.pool.Query(octx, q, args...)
	if err != nil {
		return nil, fail(ctx, what, err)
	}
	defer rows.Close()
	var out []tokens.Key
	for rows.Next() {
		var k tokens.Key
		if err := rows.Scan(&k.Project, &k.User, &k.Integration, &k.ID); err != nil {
			return nil, fail(ctx, what, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, what, err)
	}
	return out, nil
}
