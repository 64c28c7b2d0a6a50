package tokens

import (
	"context"
	"errors"
	"time"
)

// ErrNotHeld is returned by Lease.Release (and by the Extend methods some leases
// offer, such as redisstore's and pgstore's) when the lease is no
// longer held by its holder: it expired and someone else may hold it now.
var ErrNotHeld = errors.New("tokens: lease not held")

// Locker coordinates refreshes across processes: while one holder has the lease
// for a connection's key, no other holder can acquire it.
//
// Contract, which every implementation must meet (tokens/storetest checks it):
//   - Lock blocks until the lease is acquired or ctx is done (then it returns
//     ctx's error, wrapped). At most one holder has a given key at a time.
//   - A lease expires by itself after ttl, so a holder that crashed cannot
//     block the key forever. A live holder keeps its lease for longer work by
//     extending it (see Extender; the Refresher does, every third of its
//     LeaseTTL) or, when its leases cannot be extended, by choosing ttl
//     longer than the work.
//   - Release frees the lease only if it is still held by this holder; on an
//     expired lease it returns ErrNotHeld and changes nothing, so a slow holder
//     never releases a lease that another holder has acquired since.
//   - Locker and Lease are safe for concurrent use.
type Locker interface {
	Lock(ctx context.Context, key string, ttl time.Duration) (Lease, error)
}

// Lease is a held lock.
type Lease interface {
	// Release frees the lease if still held; ErrNotHeld otherwise.
	Release(ctx context.Context) error
}

// Extender is a Lease that can push its expiry back. The leases of
// MemoryLocker, redisstore and pgstore implement it; the Refresher uses it
// as a heartbeat, so its leases can be short and a dead holder's runs out
// soon.
//
// Extend sets the lease to expire ttl from now, while this holder still has
// it; on a lease that expired or was released it returns an error wrapping
// ErrNotHeld and changes nothing. It is safe for concurrent use.
type Extender interface {
	Lease
	Extend(ctx context.Context, ttl time.Duration) error
}
