package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/tokens"
)

// RunLocker runs the Locker conformance suite. newLocker returns the locker
// to test; it may return the same shared locker to every subtest. The suite
// takes about two seconds: it waits for short leases to expire.
func RunLocker(t *testing.T, newLocker func(t *testing.T) tokens.Locker) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, tokens.Locker)
	}{
		{"MutualExclusion", testMutualExclusion},
		{"CancelWhileWaiting", testCancelWhileWaiting},
		{"LeaseExpiry", testLeaseExpiry},
		{"ReleaseAfterExpiry", testReleaseAfterExpiry},
		{"IndependentKeys", testIndependentKeys},
		{"ReleaseTwice", testReleaseTwice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newLocker(t)) })
	}
}

func lockKey(t *testing.T, name string) string { return project(t) + ":" + name }

func mustLock(t *testing.T, l tokens.Locker, key string, ttl time.Duration) tokens.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lease, err := l.Lock(ctx, key, ttl)
	if err != nil {
		t.Fatalf("Lock(%q): %v", key, err)
	}
	return lease
}

func testMutualExclusion(t *testing.T, l tokens.Locker) {
	key := lockKey(t, "k")
	const n = 20
	var holders, maxHolders, done atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			lease, err := l.Lock(ctx, key, 10*time.Second)
			if err != nil {
				t.Errorf("Lock: %v", err)
				return
			}
			h := holders.Add(1)
			for {
				m := maxHolders.Load()
				if h <= m || maxHolders.CompareAndSwap(m, h) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
			holders.Add(-1)
			if err := lease.Release(context.Background()); err != nil {
				t.Errorf("Release: %v", err)
			}
			done.Add(1)
		})
	}
	wg.Wait()
	if got := maxHolders.Load(); got != 1 {
		t.Fatalf("max concurrent holders: %d, want 1", got)
	}
	if done.Load() != n {
		t.Fatalf("%d of %d holders got the lock", done.Load(), n)
	}
}

func testCancelWhileWaiting(t *testing.T, l tokens.Locker) {
	key := lockKey(t, "k")
	lease := mustLock(t, l, key, 10*time.Second)
	defer lease.Release(context.Background())

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := l.Lock(ctx, key, 10*time.Second)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Lock after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Lock did not return after its context was canceled")
	}

	// A deadline while waiting ends the wait too.
	dctx, dcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer dcancel()
	if _, err := l.Lock(dctx, key, 10*time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock past its deadline: %v, want context.DeadlineExceeded", err)
	}
}

func testLeaseExpiry(t *testing.T, l tokens.Locker) {
	key := lockKey(t, "k")
	const ttl = 200 * time.Millisecond
	mustLock(t, l, key, ttl) // never released
	start := time.Now()
	lease := mustLock(t, l, key, 10*time.Second)
	defer lease.Release(context.Background())
	if waited := time.Since(start); waited < ttl/2 {
		t.Fatalf("second Lock got the key after %v, before the first lease (ttl %v) expired", waited, ttl)
	}
}

func testReleaseAfterExpiry(t *testing.T, l tokens.Locker) {
	key := lockKey(t, "k")
	old := mustLock(t, l, key, 200*time.Millisecond)
	holder := mustLock(t, l, key, 10*time.Second) // waits for old's expiry
	if err := old.Release(context.Background()); !errors.Is(err, tokens.ErrNotHeld) {
		t.Fatalf("Release of an expired lease: %v, want ErrNotHeld", err)
	}
	// The new holder's lease must be intact.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(ctx, key, time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while the new holder holds the key: %v, want it to wait until its deadline", err)
	}
	if err := holder.Release(context.Background()); err != nil {
		t.Fatalf("Release by the holder: %v", err)
	}
}

func testIndependentKeys(t *testing.T, l tokens.Locker) {
	a := mustLock(t, l, lockKey(t, "a"), 10*time.Second)
	defer a.Release(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b, err := l.Lock(ctx, lockKey(t, "b"), 10*time.Second)
	if err != nil {
		t.Fatalf("Lock of another key while one is held: %v", err)
	}
	if err := b.Release(context.Background()); err != nil {
		t.Fatalf("Release: %v", err)
	}
}

func testReleaseTwice(t *testing.T, l tokens.Locker) {
	key := lockKey(t, "k")
	lease := mustLock(t, l, key, 10*time.Second)
	if err := lease.Release(context.Background()); err != nil {
		t.Fatalf("Release: %v", err)
	}
	other := mustLock(t, l, key, 10*time.Second)
	defer other.Release(context.Background())
	if err := lease.Release(context.Background()); !errors.Is(err, tokens.ErrNotHeld) {
		t.Fatalf("second Release: %v, want ErrNotHeld", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(ctx, key, time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("a second Release freed another holder's lease")
	}
}

// RunDeadHolder checks the crash side of the Locker contract across two
// replicas: dead takes a lease and never releases it (a holder that died
// mid-refresh); other, a second Locker over the same backend (its own client
// or pool), waits while the lease runs and acquires the key once it expires,
// about ttl later. For an in-process Locker, pass the same one twice.
func RunDeadHolder(t *testing.T, dead, other tokens.Locker) {
	t.Helper()
	const ttl = 400 * time.Millisecond
	key := lockKey(t, "dead-holder")
	start := time.Now()
	if _, err := dead.Lock(context.Background(), key, ttl); err != nil {
		t.Fatal(err)
	}
	// While the dead holder's lease runs, the other replica waits.
	ctx, cancel := context.WithTimeout(context.Background(), ttl/4)
	_, err := other.Lock(ctx, key, time.Second)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock during the dead holder's lease: %v, want DeadlineExceeded", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lease, err := other.Lock(ctx, key, time.Second)
	if err != nil {
		t.Fatalf("Lock after the dead holder's lease: %v", err)
	}
	if waited := time.Since(start); waited < ttl-50*time.Millisecond || waited > ttl+time.Second {
		t.Fatalf("acquired after %v; want about the lease ttl %v", waited, ttl)
	}
	if err := lease.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Extender is tokens.Extender, kept under its first name.
type Extender = tokens.Extender

// RunExtend checks a Locker whose leases implement Extender: an extended
// lease outlives its first ttl, and Extend after Release fails with
// tokens.ErrNotHeld.
func RunExtend(t *testing.T, l tokens.Locker) {
	t.Helper()
	ctx := context.Background()
	key := lockKey(t, "extend")
	lease, ok := mustLock(t, l, key, 200*time.Millisecond).(Extender)
	if !ok {
		t.Fatal("the lease does not implement Extender")
	}
	if err := lease.Extend(ctx, 5*time.Second); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // past the first ttl
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(wctx, key, time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of an extended lease: %v, want to wait until the deadline", err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lease.Extend(ctx, time.Second); !errors.Is(err, tokens.ErrNotHeld) {
		t.Fatalf("Extend after Release: %v, want ErrNotHeld", err)
	}
}
