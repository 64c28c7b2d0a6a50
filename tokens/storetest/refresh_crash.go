package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/tokens"
)

// crashLeaseTTL is the Refreshers' LeaseTTL in the crash checks: short, so
// they run in seconds; the takeover they measure scales with it.
const crashLeaseTTL = time.Second

// deadLocker hands out the leases of a holder that dies right after taking
// them: they are never extended nor released, as a crashed process's are
// not.
type deadLocker struct{ tokens.Locker }

func (l deadLocker) Lock(ctx context.Context, key string, ttl time.Duration) (tokens.Lease, error) {
	if _, err := l.Locker.Lock(ctx, key, ttl); err != nil {
		return nil, err
	}
	return deadLease{}, nil
}

type deadLease struct{}

func (deadLease) Release(context.Context) error               { return nil }
func (deadLease) Extend(context.Context, time.Duration) error { return nil }

// grantFunc adapts a function to tokens.Grant.
type grantFunc func(ctx context.Context, c *tokens.Connection) (*oauth2.Token, error)

func (f grantFunc) Token(ctx context.Context, c *tokens.Connection) (*oauth2.Token, error) {
	return f(ctx, c)
}

// dueConnection saves a connection whose access token expired, holding the
// provider's current refresh token, and returns it.
func dueConnection(t *testing.T, s tokens.Store, prov *provider) *tokens.Connection {
	t.Helper()
	cred := prov.initial()
	cred.ObtainedAt, cred.Expiry = time.Now().Add(-time.Hour), time.Now().Add(-time.Second)
	c := &tokens.Connection{Project: project(t), User: "u1", Integration: "crash", ID: "a", Credential: cred}
	mustSave(t, s, c)
	return c
}

// testSlowHolder: a live holder whose token request outlasts several
// LeaseTTLs keeps its lease by its heartbeat; another replica waits for its
// result and does not spend the refresh token a second time.
func testSlowHolder(t *testing.T, newReplica func(t *testing.T, i int) (tokens.Store, tokens.Locker)) {
	prov := newProvider(time.Now, time.Hour)
	s0, l0 := newReplica(t, 0)
	s1, l1 := newReplica(t, 1)
	conn := dueConnection(t, s0, prov)
	slow := newRefresher(t, tokens.RefresherConfig{Store: s0, Locker: l0, LeaseTTL: crashLeaseTTL, Timeout: 10 * time.Second})
	other := newRefresher(t, tokens.RefresherConfig{Store: s1, Locker: l1, LeaseTTL: crashLeaseTTL, Timeout: 10 * time.Second})
	entered := make(chan struct{})
	slowGrant := grantFunc(func(ctx context.Context, c *tokens.Connection) (*oauth2.Token, error) {
		close(entered)
		time.Sleep(3 * crashLeaseTTL)
		return prov.Token(ctx, c)
	})
	errc := make(chan error, 1)
	go func() {
		_, err := slow.Fresh(context.Background(), conn.Clone(), slowGrant, "")
		errc <- err
	}()
	<-entered
	got, err := other.Fresh(context.Background(), conn.Clone(), prov, "")
	if err != nil {
		t.Fatalf("waiting replica: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("slow holder: %v", err)
	}
	if calls, _, _ := prov.stats(); calls != 1 || got.Credential.AccessToken != "storetest-access-1" {
		t.Fatalf("token requests: %d, want 1: the waiting replica took over a live holder's lease", calls)
	}
}

// testCrashedHolder: a holder spends the refresh token, then dies before its
// save (its lease neither extended nor released). A waiting replica takes
// over within about LeaseTTL, finds the holder's refresh intent and retries
// the same refresh token: a provider with a reuse grace period answers it
// (grace), a strict one refuses it and the connection is marked
// StatusNeedsReauth with ReasonRefreshLost.
func testCrashedHolder(t *testing.T, newReplica func(t *testing.T, i int) (tokens.Store, tokens.Locker), grace bool) {
	prov := newProvider(time.Now, time.Hour)
	prov.grace = grace
	s0, l0 := newReplica(t, 0)
	s1, l1 := newReplica(t, 1)
	conn := dueConnection(t, s0, prov)
	dead := newRefresher(t, tokens.RefresherConfig{Store: s0, Locker: deadLocker{l0}, LeaseTTL: crashLeaseTTL, Timeout: 10 * time.Second})
	survivor := newRefresher(t, tokens.RefresherConfig{Store: s1, Locker: l1, LeaseTTL: crashLeaseTTL, Timeout: 10 * time.Second})

	killed := make(chan struct{})
	died := make(chan time.Time, 1)
	deadGrant := grantFunc(func(ctx context.Context, c *tokens.Connection) (*oauth2.Token, error) {
		_, _ = prov.Token(ctx, c) // the provider rotates; the answer is lost
		died <- time.Now()
		select {
		case <-killed:
		case <-ctx.Done():
		}
		return nil, errors.New("storetest: the holder died")
	})
	t.Cleanup(func() {
		close(killed)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = dead.Shutdown(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	go func() {
		defer cancel()
		_, _ = dead.Fresh(ctx, conn.Clone(), deadGrant, "")
	}()
	var deathAt time.Time
	select {
	case deathAt = <-died:
	case <-time.After(10 * time.Second):
		t.Fatal("the holder never called the token endpoint")
	}
	intent := mustGet(t, s1, conn.Key()).Refreshing
	if intent == nil || intent.TokenHash != tokens.RefreshTokenHash(conn.Credential.RefreshToken) {
		t.Fatalf("refresh intent before the token request: %+v, want one for the refresh token spent", intent)
	}
	if strings.Contains(intent.TokenHash, conn.Credential.RefreshToken) {
		t.Fatal("the refresh intent holds the refresh token")
	}

	fctx, fcancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer fcancel()
	got, err := survivor.Fresh(fctx, conn.Clone(), prov, "")
	took := time.Since(deathAt)
	t.Logf("holder died mid-refresh (LeaseTTL %v, grace %v): the other replica finished %v later: %v", crashLeaseTTL, grace, took.Round(time.Millisecond), err)
	if took > crashLeaseTTL+time.Second {
		t.Errorf("takeover after %v, want within about LeaseTTL (%v)", took, crashLeaseTTL)
	}
	if err != nil {
		for _, secret := range []string{"storetest-refresh", "storetest-access"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error text holds a token: %v", err)
			}
		}
	}
	stored := mustGet(t, s1, conn.Key())
	if stored.Refreshing != nil {
		t.Errorf("refresh intent left after the takeover: %+v", stored.Refreshing)
	}
	if grace {
		if err != nil {
			t.Fatalf("retry of the lost refresh under a grace period: %v", err)
		}
		if got.Credential.RefreshToken != stored.Credential.RefreshToken || !stored.Active() || !got.Credential.Expiry.After(time.Now()) {
			t.Fatal("the store does not hold the retried refresh's tokens")
		}
		return
	}
	if !errors.Is(err, tokens.ErrReauthRequired) || !errors.Is(err, tokens.ErrRefreshLost) {
		t.Fatalf("retry of the lost refresh refused: %v, want ErrReauthRequired and ErrRefreshLost", err)
	}
	if stored.Status != tokens.StatusNeedsReauth || stored.Reason != tokens.ReasonRefreshLost {
		t.Fatalf("stored status %q, reason %q; want %q, %q", stored.Status, stored.Reason, tokens.StatusNeedsReauth, tokens.ReasonRefreshLost)
	}
}
