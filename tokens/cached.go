package tokens

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	gocache "github.com/patrickmn/go-cache"
)

// CachedConfig configures NewCached.
type CachedConfig struct {
	// TTL is how long a connection read from the backing store is served from
	// memory. Zero means 30 seconds; a negative TTL is an error.
	TTL time.Duration
}

// Cached is a Store decorator that serves Get from an in-process cache, so a
// busy proxy does not read the backing store on every request.
//
// Get is read-through: a result is kept for TTL under the key it was asked
// by (an exact key, or the default-connection form with an empty ID). Errors,
// ErrNotFound included, are not cached. Save and Delete write through to the
// backing store, then drop the cached entries for the exact key and for the
// default connection of the same (project, user, integration). List always
// reads the backing store. Values going in and out are copies, so callers
// cannot change what the cache holds.
//
// Across replicas: each process has its own cache, so a replica may serve a
// token for up to TTL after another replica rotated it. That is harmless to
// the proxy: the Refresher invalidates a connection (Cached implements
// Invalidator) before it re-reads it under its lock, so it never refreshes
// from a stale refresh token; and the proxy, when the upstream answers 401 to
// a stale access token, invalidates and forces a refresh, which finds the
// rotated token in the store and uses it without calling the token endpoint.
// Choose a TTL well below the providers' access-token lifetime.
//
// Cached is safe for concurrent use.
type Cached struct {
	store Store
	items *gocache.Cache

	// mu orders cache fills against invalidations: a Get that read the
	// backing store before an invalidation must not fill the cache with
	// what it read after it. gen counts invalidations.
	mu  sync.Mutex
	gen uint64
}

var (
	_ Store       = (*Cached)(nil)
	_ Invalidator = (*Cached)(nil)
)

// NewCached returns a caching decorator of s.
func NewCached(s Store, cfg CachedConfig) (*Cached, error) {
	if s == nil {
		return nil, errors.New("tokens: cached: nil store")
	}
	ttl := cfg.TTL
	switch {
	case ttl < 0:
		return nil, errors.New("tokens: cached: negative TTL")
	case ttl == 0:
		ttl = 30 * time.Second
	}
	// Expired entries are never served; the janitor only frees their memory.
	return &Cached{store: s, items: gocache.New(ttl, max(2*ttl, time.Minute))}, nil
}

// cacheKey encodes k unambiguously (ids never contain NUL).
func cacheKey(k Key) string {
	return strings.Join([]string{k.Project, k.User, k.Integration, k.ID}, "\x00")
}

// Get implements Store.
func (c *Cached) Get(ctx context.Context, k Key) (*Connection, error) {
	ck := cacheKey(k)
	if v, ok := c.items.Get(ck); ok {
		return v.(*Connection).Clone(), nil
	}
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	conn, err := c.store.Get(ctx, k)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.items.SetDefault(ck, conn.Clone())
	}
	c.mu.Unlock()
	return conn, nil
}

// List implements Store; it is not cached.
func (c *Cached) List(ctx context.Context, project, user string) ([]*Connection, error) {
	return c.store.List(ctx, project, user)
}

// Save implements Store: it writes through, then invalidates conn's key and
// its integration's default key.
func (c *Cached) Save(ctx context.Context, conn *Connection) error {
	err := c.store.Save(ctx, conn)
	// Invalidate on failure too: a conflict means the cache may be stale.
	c.Invalidate(ctx, conn.Key())
	return err
}

// Delete implements Store: it writes through, then invalidates k and its
// integration's default key.
func (c *Cached) Delete(ctx context.Context, k Key) error {
	err := c.store.Delete(ctx, k)
	c.Invalidate(ctx, k)
	return err
}

// Invalidate implements Invalidator: it drops the cached entries for k and
// for the default connection of k's integration, and for the inner store's
// too if it caches.
func (c *Cached) Invalidate(ctx context.Context, k Key) {
	def := k
	def.ID = ""
	c.mu.Lock()
	c.gen++
	c.items.Delete(cacheKey(k))
	c.items.Delete(cacheKey(def))
	c.mu.Unlock()
	if inv, ok := c.store.(Invalidator); ok {
		inv.Invalidate(ctx, k)
	}
}

// Unwrap returns the backing store (IndexOf finds its DueIndex through it).
func (c *Cached) Unwrap() Store { return c.store }
