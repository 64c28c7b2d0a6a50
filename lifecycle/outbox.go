package lifecycle

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Outbox keeps events between the Emitter and the Dispatcher, in the store
// where they outlive a restart: an event added is delivered even when the
// process stops before its delivery (at-least-once). Implementations: the
// memory one here (one process, nothing survives it), redisstore's and
// pgstore's; every one passes lifecycle/outboxtest.
//
// An entry is due at a time: Add makes it due at its event's Time, Claim
// hides it until its lease ends, Nack reschedules it, Ack removes it.
// Implementations are safe for concurrent use, across processes for the
// shared ones. Errors other than ctx's wrap tokens.ErrUnavailable when the
// store cannot be reached.
type Outbox interface {
	// Add stores ev, due at ev.Time. Adding an ID already present changes
	// nothing and is not an error.
	Add(ctx context.Context, ev Event) error
	// Claim returns up to req.Limit entries due at req.Now, the earliest
	// due first, and makes each due again at req.Now+req.Lease: unless
	// acked or nacked by then, it is claimed again (its claimer is taken for
	// dead). Concurrent claims never return one entry twice within a lease.
	Claim(ctx context.Context, req ClaimRequest) ([]Entry, error)
	// Ack removes the entry of id: delivered, or given up. An unknown id is
	// not an error.
	Ack(ctx context.Context, id string) error
	// Nack stores e's Attempts and Delivered and makes it due at retryAt.
	// An entry no longer present (acked meanwhile) is not added again, and
	// that is not an error.
	Nack(ctx context.Context, e Entry, retryAt time.Time) error
}

// ClaimRequest is the argument of Outbox.Claim.
type ClaimRequest struct {
	Now   time.Time     // the claimer's clock
	Limit int           // at most this many entries; at least 1
	Lease time.Duration // how long the entries stay hidden; positive
}

// Entry is an event in the Outbox and its delivery so far.
type Entry struct {
	Event Event `json:"event"`
	// Attempts counts the failed delivery rounds so far.
	Attempts int `json:"attempts,omitempty"`
	// Delivered lists the endpoint URLs that accepted the event already; a
	// retry skips them.
	Delivered []string `json:"delivered,omitempty"`
}

// MemoryOutbox is an Outbox in this process's memory: for tests and a
// single process that accepts losing undelivered events when it stops. Its
// zero value is not usable; build it with NewMemoryOutbox.
type MemoryOutbox struct {
	mu      sync.Mutex
	entries map[string]*memoryEntry
}

type memoryEntry struct {
	e   Entry
	due time.Time
}

var _ Outbox = (*MemoryOutbox)(nil)

// NewMemoryOutbox returns an empty MemoryOutbox.
func NewMemoryOutbox() *MemoryOutbox {
	return &MemoryOutbox{entries: map[string]*memoryEntry{}}
}

// Add implements Outbox.
func (m *MemoryOutbox) Add(ctx context.Context, ev Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.entries[ev.ID]; !ok {
		m.entries[ev.ID] = &memoryEntry{e: Entry{Event: ev}, due: ev.Time}
	}
	return nil
}

// Claim implements Outbox.
func (m *MemoryOutbox) Claim(ctx context.Context, req ClaimRequest) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []*memoryEntry
	for _, me := range m.entries {
		if !me.due.After(req.Now) {
			due = append(due, me)
		}
	}
	slices.SortFunc(due, func(a, b *memoryEntry) int {
		if c := a.due.Compare(b.due); c != 0 {
			return c
		}
		if a.e.Event.ID < b.e.Event.ID {
			return -1
		}
		return 1
	})
	if len(due) > req.Limit {
		due = due[:req.Limit]
	}
	out := make([]Entry, len(due))
	for i, me := range due {
		me.due = req.Now.Add(req.Lease)
		out[i] = me.e
		out[i].Delivered = slices.Clone(me.e.Delivered)
	}
	return out, nil
}

// Ack implements Outbox.
func (m *MemoryOutbox) Ack(ctx context.Context, id string) error {
	m.mu.Lock()
	delete(m.entries, id)
	m.mu.Unlock()
	return nil
}

// Nack implements Outbox.
func (m *MemoryOutbox) Nack(ctx context.Context, e Entry, retryAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if me, ok := m.entries[e.Event.ID]; ok {
		me.e.Attempts, me.e.Delivered, me.due = e.Attempts, slices.Clone(e.Delivered), retryAt
	}
	return nil
}

// Len returns the number of entries, due or not.
func (m *MemoryOutbox) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}
