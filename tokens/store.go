package tokens

import (
	"context"
	"errors"
)

// Errors returned by stores. Implementations wrap them with %w; callers test
// them with errors.Is.
var (
	// ErrNotFound: no connection matches the key.
	ErrNotFound = errors.New("tokens: connection not found")
	// ErrConflict: Save's compare-and-swap failed because the stored version
	// differs from the connection's (someone saved a newer one), or a create
	// found the connection already present.
	ErrConflict = errors.New("tokens: version conflict")
	// ErrUnavailable: the store could not be reached or failed; the proxy
	// answers 503 and forwards nothing.
	ErrUnavailable = errors.New("tokens: store unavailable")
)

// Store holds connections. Implementations must be safe for concurrent use by
// many goroutines (and, for shared stores, many processes), must return copies
// that the caller may modify, and must run the conformance suite in package
// tokens/storetest.
type Store interface {
	// Get returns the connection named by k; with an empty k.ID, the user's
	// default connection of the integration (see Key). It returns an error
	// wrapping ErrNotFound when there is none, ErrUnavailable when the store
	// fails.
	Get(ctx context.Context, k Key) (*Connection, error)

	// List returns all connections of one user in a project, ordered by
	// Integration, then CreatedAt, then ID. No connection is not an error.
	List(ctx context.Context, project, user string) ([]*Connection, error)

	// Save creates or updates c, compare-and-swap on c.Version: Version 0
	// creates (ErrConflict if the key exists), any other Version updates only
	// if the stored version equals it (ErrConflict otherwise, ErrNotFound if
	// the connection is gone). An empty c.ID is given a new random id on
	// create. On success Save sets c.Version to the new version, c.UpdatedAt
	// to now, and c.CreatedAt on create when zero.
	Save(ctx context.Context, c *Connection) error

	// Delete removes the connection named by k (k.ID must be set). It returns
	// an error wrapping ErrNotFound when there is none.
	Delete(ctx context.Context, k Key) error
}

// Invalidator is implemented by caching stores. Invalidate drops whatever the
// cache holds for k (and for the default connection of k's integration), so
// that the next Get reads the backing store. The refresher calls it before it
// re-reads a connection under its lock.
type Invalidator interface {
	Invalidate(ctx context.Context, k Key)
}
