package tokens

import (
	"context"
	"errors"
	"time"
)

// DueIndex is implemented by stores that can find the connections a
// KeepAlive must refresh without reading every connection: an index ordered
// by time, maintained by Save and Delete together with the record.
// MemoryStore, redisstore and pgstore implement it; Cached and Sealed pass
// it through from their backing store (see IndexOf).
//
// The times indexed are those of Schedule: a connection that is not active
// is in neither index. A connection deleted, or saved with another time,
// leaves the old entry at once. Both methods return keys with their ID set,
// at most limit of them (limit <= 0 means none), and no connection is not an
// error. They are safe for concurrent use and return ErrUnavailable,
// wrapped, when the store fails.
type DueIndex interface {
	// Due returns the keys of the connections whose access token expires
	// before before (Credential.Expiry, when set), soonest first.
	Due(ctx context.Context, before time.Time, limit int) ([]Key, error)
	// Idle returns the keys of integration's connections last refreshed
	// before before (Credential.ObtainedAt, or CreatedAt when it is zero),
	// oldest first.
	Idle(ctx context.Context, integration string, before time.Time, limit int) ([]Key, error)
}

// ErrNoIndex is returned by IndexOf's callers (NewKeepAlive) when a store
// offers no DueIndex.
var ErrNoIndex = errors.New("tokens: store has no due index")

// Schedule returns the times a DueIndex keeps for c: due, when its access
// token expires (zero when it never does, or c is not active); refreshed,
// when it was last refreshed: Credential.ObtainedAt, or c.CreatedAt when
// that is zero (zero when c is not active). Stores call it on what they are
// about to save (after setting CreatedAt on a create).
func Schedule(c *Connection) (due, refreshed time.Time) {
	if c == nil || !c.Active() {
		return time.Time{}, time.Time{}
	}
	refreshed = c.Credential.ObtainedAt
	if refreshed.IsZero() {
		refreshed = c.CreatedAt
	}
	return c.Credential.Expiry, refreshed
}

// unwrapper is a Store decorator that names the store it decorates.
type unwrapper interface{ Unwrap() Store }

// IndexOf returns s's DueIndex: s itself when it implements one, else that of
// the store s decorates (through an Unwrap() Store method, as Cached and
// Sealed have). Keys it returns are read through s.
func IndexOf(s Store) (DueIndex, bool) {
	for s != nil {
		if ix, ok := s.(DueIndex); ok {
			return ix, true
		}
		u, ok := s.(unwrapper)
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}

// VerifyIndex is implemented by stores that can find the connections whose
// verification is due without reading every connection: per integration,
// ordered by VerifySchedule, maintained by Save and Delete with the record.
// MemoryStore, redisstore and pgstore implement it; Cached and Sealed pass
// it through (see VerifyIndexOf). A KeepAlive with VerifyEvery uses it.
type VerifyIndex interface {
	// Unverified returns the keys of integration's active connections last
	// verified before before (Connection.Verified, or CreatedAt when never
	// verified), oldest first, at most limit of them, IDs set.
	Unverified(ctx context.Context, integration string, before time.Time, limit int) ([]Key, error)
}

// VerifySchedule returns the time a VerifyIndex keeps for c: when it was
// last verified (Connection.Verified), or c.CreatedAt when never; zero when
// c is not active. Stores call it on what they are about to save.
func VerifySchedule(c *Connection) time.Time {
	if c == nil || !c.Active() {
		return time.Time{}
	}
	if !c.Verified.IsZero() {
		return c.Verified
	}
	return c.CreatedAt
}

// VerifyIndexOf returns s's VerifyIndex: s itself, or that of the store s
// decorates (see IndexOf).
func VerifyIndexOf(s Store) (VerifyIndex, bool) {
	for s != nil {
		if ix, ok := s.(VerifyIndex); ok {
			return ix, true
		}
		u, ok := s.(unwrapper)
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}
