package tokens

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// deadLocker hands out leases that are never extended nor released: a
// holder that died right after taking its lease.
type deadLocker struct{ Locker }

func (l deadLocker) Lock(ctx context.Context, key string, ttl time.Duration) (Lease, error) {
	if _, err := l.Locker.Lock(ctx, key, ttl); err != nil {
		return nil, err
	}
	return deadLease{}, nil
}

type deadLease struct{}

func (deadLease) Release(context.Context) error               { return nil }
func (deadLease) Extend(context.Context, time.Duration) error { return nil }

// With the defaults (LeaseTTL 9s, a heartbeat every 3s, Timeout 30s), a holder that dies
// mid-refresh holds up its connection for at most LeaseTTL: a replica
// already waiting completes a refresh within 10 seconds, not after its own
// 30-second Timeout.
func TestDefaultTakeoverWithinLeaseTTL(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a 9-second lease")
	}
	locker := NewMemoryLocker()
	f := newFixture(t, -time.Minute, RefresherConfig{Locker: locker})
	dead, err := NewRefresher(RefresherConfig{Store: f.store, Locker: deadLocker{locker}})
	if err != nil {
		t.Fatal(err)
	}
	died, killed := make(chan time.Time, 1), make(chan struct{})
	defer close(killed)
	deadGrant := grantFunc(func(ctx context.Context, c *Connection) (*oauth2.Token, error) {
		died <- time.Now()
		select {
		case <-killed:
		case <-ctx.Done():
		}
		return nil, errors.New("the holder died")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	go func() { _, _ = dead.Fresh(ctx, f.stored(t), deadGrant, "") }()
	deathAt := <-died
	got, err := f.r.Fresh(context.Background(), f.stored(t), f.g, "")
	took := time.Since(deathAt)
	t.Logf("takeover with the default LeaseTTL %v: %v", DefaultLeaseTTL, took.Round(time.Millisecond))
	if err != nil || got.Credential.AccessToken != "access-1" {
		t.Fatalf("waiting replica: %v", err)
	}
	if took > 10*time.Second {
		t.Fatalf("took %v, want within 10s", took)
	}
}

// A Locker whose leases cannot be extended bounds the holder's work to nine
// tenths of LeaseTTL, so it never works past its lease.
func TestLeaseWithoutExtendBoundsTheRefresh(t *testing.T) {
	f := newFixture(t, -time.Minute, RefresherConfig{Locker: plainLocker{NewMemoryLocker()}, LeaseTTL: 200 * time.Millisecond, Timeout: 5 * time.Second})
	f.e.setAnswer(func(w http.ResponseWriter, r *http.Request, n int64) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	start := time.Now()
	_, err := f.r.Fresh(context.Background(), f.stored(t), f.g, "")
	if !errors.Is(err, ErrRefreshTimeout) {
		t.Fatalf("got %v, want ErrRefreshTimeout", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the refresh ran %v under a 200ms lease it could not extend", took)
	}
}

// plainLocker hides its leases' Extend method.
type plainLocker struct{ Locker }

func (l plainLocker) Lock(ctx context.Context, key string, ttl time.Duration) (Lease, error) {
	lease, err := l.Locker.Lock(ctx, key, ttl)
	if err != nil {
		return nil, err
	}
	return struct{ Lease }{lease}, nil
}
