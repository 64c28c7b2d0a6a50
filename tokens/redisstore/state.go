package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/connect"
)

// StateStore is a connect.StateStore on Redis, shared by every replica: a
// flow started on one replica can end on another. States are stored with
// SET ... EX (kept an hour past their expiry, so a late callback is told
// "expired" rather than "invalid") and taken with GETDEL, which is atomic:
// of concurrent takes of one state at most one succeeds. Build it with
// Store.States.
//
// A state holds the PKCE code verifier in Redis for the minutes of a flow;
// keys are the SHA-256 of the state value, never the value itself.
type StateStore struct {
	s *Store
}

var _ connect.StateStore = (*StateStore)(nil)

// stateKeep is how long a state stays past its expiry.
const stateKeep = time.Hour

// States returns the Store's connect.StateStore, under the same client,
// prefix and timeout.
func (s *Store) States() *StateStore { return &StateStore{s: s} }

func (st *StateStore) key(k string) string { return st.s.prefix + "connect-state:" + k }

// Put implements connect.StateStore.
func (st *StateStore) Put(ctx context.Context, key string, s connect.State) error {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("redisstore: state: %w", err)
	}
	ttl := time.Until(s.Expires) + stateKeep
	if ttl <= 0 {
		return nil // already past keeping: a callback will find nothing
	}
	op, cancel := st.s.op(ctx)
	defer cancel()
	if err := st.s.rdb.Set(op, st.key(key), data, ttl).Err(); err != nil {
		return fail(ctx, "put state", err)
	}
	return nil
}

// Take implements connect.StateStore.
func (st *StateStore) Take(ctx context.Context, key string) (connect.State, error) {
	op, cancel := st.s.op(ctx)
	defer cancel()
	data, err := st.s.rdb.GetDel(op, st.key(key)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return connect.State{}, fmt.Errorf("redisstore: %w", connect.ErrStateNotFound)
	case err != nil:
		return connect.State{}, fail(ctx, "take state", err)
	}
	var s connect.State
	if err := json.Unmarshal(data, &s); err != nil {
		return connect.State{}, fmt.Errorf("redisstore: malformed state: %w", connect.ErrStateNotFound)
	}
	return s, nil
}
