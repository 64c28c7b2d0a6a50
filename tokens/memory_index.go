package tokens

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// timeIndex orders keys by a time: a sorted slice and a map of each key's
// entry. put and remove cost O(log n) to find and a memmove to shift, which
// suits MemoryStore's sizes; before reads only what it returns.
type timeIndex struct {
	at    map[Key]time.Time
	order []indexEntry
}

type indexEntry struct {
	at  time.Time
	key Key
}

func compareEntry(a, b indexEntry) int {
	if c := a.at.Compare(b.at); c != 0 {
		return c
	}
	return cmp.Compare(cacheKey(a.key), cacheKey(b.key))
}

// put sets k's time; a zero t removes k.
func (ix *timeIndex) put(k Key, t time.Time) {
	ix.remove(k)
	if t.IsZero() {
		return
	}
	if ix.at == nil {
		ix.at = make(map[Key]time.Time)
	}
	e := indexEntry{at: t, key: k}
	i, _ := slices.BinarySearchFunc(ix.order, e, compareEntry)
	ix.order = slices.Insert(ix.order, i, e)
	ix.at[k] = t
}

func (ix *timeIndex) remove(k Key) {
	t, ok := ix.at[k]
	if !ok {
		return
	}
	if i, found := slices.BinarySearchFunc(ix.order, indexEntry{at: t, key: k}, compareEntry); found {
		ix.order = slices.Delete(ix.order, i, i+1)
	}
	delete(ix.at, k)
}

// before returns up to limit keys whose time is before t, earliest first.
func (ix *timeIndex) before(t time.Time, limit int) []Key {
	var out []Key
	for _, e := range ix.order {
		if len(out) >= limit || !e.at.Before(t) {
			break
		}
		out = append(out, e.key)
	}
	return out
}

var (
	_ DueIndex    = (*MemoryStore)(nil)
	_ VerifyIndex = (*MemoryStore)(nil)
)

// index records c's Schedule; s.mu must be held for writing.
func (s *MemoryStore) index(c *Connection) {
	due, refreshed := Schedule(c)
	k := c.Key()
	s.due.put(k, due)
	if s.idle == nil {
		s.idle = make(map[string]*timeIndex)
	}
	ix := s.idle[k.Integration]
	if ix == nil {
		ix = &timeIndex{}
		s.idle[k.Integration] = ix
	}
	ix.put(k, refreshed)
	if s.verify == nil {
		s.verify = make(map[string]*timeIndex)
	}
	vx := s.verify[k.Integration]
	if vx == nil {
		vx = &timeIndex{}
		s.verify[k.Integration] = vx
	}
	vx.put(k, VerifySchedule(c))
}

// unindex drops k from the indexes; s.mu must be held for writing.
func (s *MemoryStore) unindex(k Key) {
	s.due.remove(k)
	if ix := s.idle[k.Integration]; ix != nil {
		ix.remove(k)
		if len(ix.at) == 0 {
			delete(s.idle, k.Integration)
		}
	}
	if vx := s.verify[k.Integration]; vx != nil {
		vx.remove(k)
		if len(vx.at) == 0 {
			delete(s.verify, k.Integration)
		}
	}
}

// Due implements DueIndex.
func (s *MemoryStore) Due(ctx context.Context, before time.Time, limit int) ([]Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tokens: due: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.due.before(before, limit), nil
}

// Idle implements DueIndex.
func (s *MemoryStore) Idle(ctx context.Context, integration string, before time.Time, limit int) ([]Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tokens: idle: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ix := s.idle[integration]
	if ix == nil {
		return nil, nil
	}
	return ix.before(before, limit), nil
}

// Unverified implements VerifyIndex.
func (s *MemoryStore) Unverified(ctx context.Context, integration string, before time.Time, limit int) ([]Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tokens: unverified: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ix := s.verify[integration]
	if ix == nil {
		return nil, nil
	}
	return ix.before(before, limit), nil
}
