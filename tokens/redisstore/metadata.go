package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/tokens"
)

// Metadata is a tokens.Metadata over the Store's Redis: one string key per
// user beside the user's connections ("P{project:user}:meta"), holding the
// JSON object. Get it from Store.Metadata; it is safe for concurrent use.
type Metadata struct{ s *Store }

var _ tokens.Metadata = (*Metadata)(nil)

// Metadata returns the user metadata store that shares s's client, prefix
// and timeout.
func (s *Store) Metadata() *Metadata { return &Metadata{s: s} }

func validUser(project, user string) bool {
	for _, p := range []string{project, user} {
		if strings.IndexByte(p, 0) >= 0 || !utf8.ValidString(p) {
			return false
		}
	}
	return true
}

func (m *Metadata) key(project, user string) string { return m.s.userBase(project, user) + "meta" }

// Get implements tokens.Metadata.
func (m *Metadata) Get(ctx context.Context, project, user string) (map[string]any, error) {
	if !validUser(project, user) {
		return map[string]any{}, nil
	}
	octx, cancel := m.s.op(ctx)
	defer cancel()
	b, err := m.s.rdb.Get(octx, m.key(project, user)).Bytes()
	if errors.Is(err, redis.Nil) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, fail(ctx, "get metadata", err)
	}
	meta, err := tokens.DecodeMetadata(b)
	if err != nil {
		return nil, fmt.Errorf("%w: redisstore: malformed metadata", tokens.ErrUnavailable)
	}
	return meta, nil
}

// Put implements tokens.Metadata.
func (m *Metadata) Put(ctx context.Context, project, user string, meta map[string]any) error {
	if !validUser(project, user) {
		return errors.New("redisstore: project and user must be UTF-8 without NUL")
	}
	octx, cancel := m.s.op(ctx)
	defer cancel()
	if len(meta) == 0 {
		if err := m.s.rdb.Del(octx, m.key(project, user)).Err(); err != nil {
			return fail(ctx, "delete metadata", err)
		}
		return nil
	}
	b, err := tokens.EncodeMetadata(meta)
	if err != nil {
		return err
	}
	if err := m.s.rdb.Set(octx, m.key(project, user), b, 0).Err(); err != nil {
		return fail(ctx, "put metadata", err)
	}
	return nil
}
