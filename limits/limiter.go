package limits

import (
	"context"
	"errors"
	"time"
)

// Limit is a token bucket: Rate permits per second, at most Burst at once.
// A zero Rate means no rate: only blocks apply (see Limiter.Block).
type Limit struct {
	Rate  float64
	Burst int
}

// Request asks for one permit.
type Request struct {
	// Key names the bucket ("acct|quickbooks|realm_id|123"). Keys are opaque
	// to the Limiter; the caller makes them unique per scope.
	Key string
	// Limit is the bucket's rate. The same key is always asked with the same
	// Limit, except when the configuration changes.
	Limit Limit
	// BlockKey, when set, names a block (see Limiter.Block) that also holds
	// this permit back: the scope the provider's answers report on. "" means
	// blocks on Key.
	BlockKey string
	// MaxWait is the longest wait the caller accepts: a permit further away
	// is not taken. Zero means the permit must be free now.
	MaxWait time.Duration
}

// Decision is a Limiter's answer.
type Decision struct {
	// Allowed reports that a permit was taken: the caller may send after
	// Wait. When false nothing was taken and Wait is how long until a permit
	// would be free (the Retry-After to give).
	Allowed bool
	Wait    time.Duration
}

// Limiter hands out permits from named buckets. Implementations must be safe
// for concurrent use by many goroutines, must return within the context's
// deadline (a shared limiter bounds its own I/O by a short timeout as well),
// and must never sleep for the caller: Reserve answers how long to wait, and
// the caller waits.
type Limiter interface {
	// Reserve takes one permit from the bucket r.Key, or none when the
	// permit is further than r.MaxWait away or the key is blocked past it.
	// An error (wrapping ErrUnavailable for a backend outage) means no
	// decision was made.
	Reserve(ctx context.Context, r Request) (Decision, error)
	// Block lets no permit of key go before until: the provider said the
	// budget is spent. A later until extends a block; an earlier one does
	// not shorten it.
	Block(ctx context.Context, key string, until time.Time) error
}

// ErrUnavailable marks a shared limiter's backend being unreachable.
var ErrUnavailable = errors.New("limits: limiter unavailable")
