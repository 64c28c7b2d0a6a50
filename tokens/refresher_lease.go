package tokens

import (
	"context"
	"errors"
	"time"
)

// hold keeps lease while the refresh under ctx runs: a heartbeat extends it
// to LeaseTTL every third of LeaseTTL, until stop is called or ctx ends. A
// lease that cannot be extended bounds the work instead: the returned ctx
// ends at nine tenths of LeaseTTL, so the holder stops before another can
// take the key. stop ends the heartbeat and waits for it; call it before
// releasing the lease.
func (r *Refresher) hold(ctx context.Context, lease Lease) (_ context.Context, stop func()) {
	ext, ok := lease.(Extender)
	if !ok {
		ctx, cancel := context.WithTimeout(ctx, r.leaseTTL-r.leaseTTL/10)
		return ctx, cancel
	}
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(r.heartbeat)
		defer tick.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-tick.C:
			}
			// A failed beat (the store briefly unreachable) is retried at the
			// next; a lease lost for good ends the heartbeat. Whatever the
			// holder saves after that is still compare-and-swap.
			if err := ext.Extend(hctx, r.leaseTTL); errors.Is(err, ErrNotHeld) {
				return
			}
		}
	}()
	return ctx, func() { cancel(); <-done }
}
