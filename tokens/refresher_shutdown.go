package tokens

import (
	"context"
	"errors"
	"fmt"
)

// ErrRefresherShutDown: the Refresher was shut down (see Shutdown) and
// starts no refresh. Errors wrapping it wrap ErrRefreshFailed too.
var ErrRefresherShutDown = errors.New("tokens: refresher shut down")

// Shutdown stops r from starting refreshes and waits, until ctx ends, for
// the refreshes in flight to finish: their new tokens saved (or their
// failure recorded) and their leases released. Call it after the HTTP
// server's own Shutdown, before the process exits: with rotating refresh
// tokens, a refresh cut off between the token endpoint's answer and the save
// leaves a refresh token the provider has spent.
//
// Once Shutdown was called, Fresh still returns valid connections as is,
// but a connection that needs a refresh fails with an error wrapping
// ErrRefresherShutDown (and ErrRefreshFailed). Shutdown returns nil when
// nothing is left in flight, or ctx's error, wrapped, when ctx ends first;
// it may be called again, and from several goroutines.
func (r *Refresher) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.shutdown = true
	if r.flying == 0 {
		r.mu.Unlock()
		return nil
	}
	if r.drained == nil {
		r.drained = make(chan struct{})
	}
	drained := r.drained
	r.mu.Unlock()
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		r.mu.Lock()
		n := r.flying
		r.mu.Unlock()
		return fmt.Errorf("tokens: refresher shutdown: %d refreshes still in flight: %w", n, ctx.Err())
	}
}

// startFlight counts a flight in, unless r was shut down.
func (r *Refresher) startFlight() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shutdown {
		return false
	}
	r.flying++
	return true
}

// endFlight counts a flight out, and wakes Shutdown after the last.
func (r *Refresher) endFlight() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flying--
	if r.flying == 0 && r.drained != nil {
		close(r.drained)
		r.drained = nil
	}
}
