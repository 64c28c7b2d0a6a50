package tokens

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MemoryStore is a Store that keeps connections in the process's memory. It
// suits tests, demos and single-process deployments that can afford to lose
// every connection on restart. Its zero value is not usable; call
// NewMemoryStore.
//
// MemoryStore is safe for concurrent use. It keeps its own copies: values
// passed to Save and returned by Get and List are never shared with it.
type MemoryStore struct {
	mu     sync.RWMutex
	users  map[userKey]map[string]map[string]*Connection // (project, user) → integration → id → connection
	now    func() time.Time
	due    timeIndex             // DueIndex.Due
	idle   map[string]*timeIndex // integration → DueIndex.Idle
	verify map[string]*timeIndex // integration → VerifyIndex.Unverified
}

type userKey struct{ project, user string }

var (
	_ Store = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{users: make(map[userKey]map[string]map[string]*Connection), now: time.Now}
}

// Get implements Store.
func (s *MemoryStore) Get(ctx context.Context, k Key) (*Connection, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tokens: get %s: %w", k, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := s.users[userKey{k.Project, k.User}][k.Integration]
	var c *Connection
	if k.ID != "" {
		c = ids[k.ID]
	} else {
		c = defaultConnection(ids)
	}
	if c == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, k)
	}
	return c.Clone(), nil
}

// defaultConnection returns the connection created first, ties broken by the
// smaller ID; nil when there is none.
func defaultConnection(ids map[string]*Connection) *Connection {
	var best *Connection
	for _, c := range ids {
		if best == nil || compareAge(c, best) < 0 {
			best = c
		}
	}
	return best
}

// compareAge orders connections by CreatedAt, then ID.
func compareAge(a, b *Connection) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// List implements Store.
func (s *MemoryStore) List(ctx context.Context, project, user string) ([]*Connection, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tokens: list %s/%s: %w", project, user, err)
	}
	s.mu.RLock()
	var out []*Connection
	for _, ids := range s.users[userKey{project, user}] {
		for _, c := range ids {
			out = append(out, c.Clone())
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Connection) int {
		if c := cmp.Compare(a.Integration, b.Integration); c != 0 {
			return c
		}
		return compareAge(a, b)
	})
	return out, nil
}

// Save implements Store. On update the stored CreatedAt is kept (and copied
// to c): a connection's age, which decides the default connection, never
// changes.
func (s *MemoryStore) Save(ctx context.Context, c *Connection) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tokens: save %s: %w", c.Key(), err)
	}
	now := s.now().Round(0) // no monotonic reading in stored times
	s.mu.Lock()
	defer s.mu.Unlock()
	uk := userKey{c.Project, c.User}
	if c.Version == 0 {
		id := c.ID
		if id == "" {
			id = NewID()
		}
		if _, ok := s.users[uk][c.Integration][id]; ok {
			return fmt.Errorf("%w: %s exists", ErrConflict, c.Key())
		}
		c.ID = id
		if c.CreatedAt.IsZero() {
			c.CreatedAt = now
		}
		c.UpdatedAt = now
		c.Version = 1
		integrations := s.users[uk]
		if integrations == nil {
			integrations = make(map[string]map[string]*Connection)
			s.users[uk] = integrations
		}
		ids := integrations[c.Integration]
		if ids == nil {
			ids = make(map[string]*Connection)
			integrations[c.Integration] = ids
		}
		ids[id] = c.Clone()
		s.index(c)
		return nil
	}
	old := s.users[uk][c.Integration][c.ID]
	if old == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, c.Key())
	}
	if old.Version != c.Version {
		return fmt.Errorf("%w: %s at version %d, not %d", ErrConflict, c.Key(), old.Version, c.Version)
	}
	c.Version++
	c.UpdatedAt = now
	c.CreatedAt = old.CreatedAt
	s.users[uk][c.Integration][c.ID] = c.Clone()
	s.index(c)
	return nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(ctx context.Context, k Key) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tokens: delete %s: %w", k, err)
	}
	if k.ID == "" {
		return fmt.Errorf("%w: delete needs a connection id: %s", ErrNotFound, k)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	uk := userKey{k.Project, k.User}
	ids := s.users[uk][k.Integration]
	if _, ok := ids[k.ID]; !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, k)
	}
	delete(ids, k.ID)
	s.unindex(k)
	if len(ids) == 0 {
		delete(s.users[uk], k.Integration)
		if len(s.users[uk]) == 0 {
			delete(s.users, uk)
		}
	}
	return nil
}
