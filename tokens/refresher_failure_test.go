package tokens

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestFreshInvalidGrant(t *testing.T) {
	for _, code := range []string{"invalid_grant", "unauthorized_client"} {
		t.Run(code, func(t *testing.T) {
			var mu sync.Mutex
			var events []RefreshEvent
			f := newFixture(t, -time.Minute, RefresherConfig{OnRefreshFailed: func(ev RefreshEvent, err error) {
				assertNoSecret(t, err)
				mu.Lock()
				events = append(events, ev)
				mu.Unlock()
			}})
			f.e.setAnswer(func(w http.ResponseWriter, r *http.Request, n int64) { writeOAuthError(w, http.StatusBadRequest, code) })
			stale := f.stored(t)
			_, err := f.r.Fresh(context.Background(), stale, f.g, "")
			if !errors.Is(err, ErrReauthRequired) || errors.Is(err, ErrRefreshFailed) {
				t.Fatalf("got %v, want ErrReauthRequired only", err)
			}
			assertNoSecret(t, err)
			if s := f.stored(t); s.Status != StatusNeedsReauth || s.Credential.RefreshToken != "refresh-0" {
				t.Fatalf("stored status %q, want %q with the credential kept", s.Status, StatusNeedsReauth)
			}
			mu.Lock()
			if len(events) != 1 || !events[0].NeedsReauth {
				t.Fatalf("OnRefreshFailed events: %+v, want one with NeedsReauth", events)
			}
			mu.Unlock()
			// Later calls fail at once: with the stored connection without a
			// flight, with a stale active copy after the re-read.
			for _, c := range []*Connection{f.stored(t), stale} {
				if _, err := f.r.Fresh(context.Background(), c, f.g, ""); !errors.Is(err, ErrReauthRequired) {
					t.Fatalf("later call: %v, want ErrReauthRequired", err)
				}
			}
			if calls := f.e.calls.Load(); calls != 1 {
				t.Fatalf("token endpoint calls: %d, want 1", calls)
			}
		})
	}
}

func TestFreshNoRefreshTokenNeedsReauth(t *testing.T) {
	f := newFixture(t, -time.Minute, RefresherConfig{})
	c := f.stored(t)
	c.Credential.RefreshToken = ""
	if err := f.store.Save(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.Fresh(context.Background(), c, f.g, ""); !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("got %v, want ErrReauthRequired", err)
	}
	if f.stored(t).Active() || f.e.calls.Load() != 0 {
		t.Fatal("want the connection marked, without a token call")
	}
}

func TestFreshTransientFailureCoolsDown(t *testing.T) {
	var failures int
	f := newFixture(t, -time.Minute, RefresherConfig{Cooldown: 30 * time.Second, OnRefreshFailed: func(ev RefreshEvent, err error) {
		if ev.NeedsReauth {
			t.Errorf("transient failure reported as NeedsReauth")
		}
		failures++
	}})
	f.e.setAnswer(func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			writeOAuthError(w, http.StatusInternalServerError, "server_error")
			return
		}
		writeToken(w, "access-2", "refresh-2", time.Hour)
	})
	c := f.stored(t)
	_, err := f.r.Fresh(context.Background(), c, f.g, "")
	if !errors.Is(err, ErrRefreshFailed) || errors.Is(err, ErrReauthRequired) || errors.Is(err, ErrRefreshTimeout) {
		t.Fatalf("500: got %v, want ErrRefreshFailed", err)
	}
	assertNoSecret(t, err)
	for i := range 10 {
		_, err := f.r.Fresh(context.Background(), c, f.g, "access-0")
		var cd *CooldownError
		if !errors.As(err, &cd) || !errors.Is(err, ErrRefreshFailed) || cd.RetryAfter <= 0 || cd.RetryAfter > 30*time.Second {
			t.Fatalf("call %d within cooldown: %v, want *CooldownError", i, err)
		}
		assertNoSecret(t, err)
	}
	if calls := f.e.calls.Load(); calls != 1 || failures != 1 {
		t.Fatalf("within cooldown: %d token calls, %d failure events; want 1 and 1", calls, failures)
	}
	if f.stored(t).Status == StatusNeedsReauth {
		t.Fatal("a transient failure marked the connection for re-authorization")
	}
	f.clock.Add(int64(31 * time.Second))
	got, err := f.r.Fresh(context.Background(), c, f.g, "")
	if err != nil || got.Credential.AccessToken != "access-2" {
		t.Fatalf("after the cooldown: %v", err)
	}
	if len(f.r.cooldowns) != 0 {
		t.Fatal("a success did not clear the cooldown")
	}
}

func TestFreshTimeout(t *testing.T) {
	f := newFixture(t, -time.Minute, RefresherConfig{Timeout: 200 * time.Millisecond})
	f.e.setAnswer(func(w http.ResponseWriter, r *http.Request, n int64) {
		select { // hang until the client gives up
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	start := time.Now()
	_, err := f.r.Fresh(context.Background(), f.stored(t), f.g, "")
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Fresh returned after %v with a 200ms Timeout", took)
	}
	if !errors.Is(err, ErrRefreshTimeout) || !errors.Is(err, ErrRefreshFailed) {
		t.Fatalf("got %v, want ErrRefreshTimeout", err)
	}
	assertNoSecret(t, err)
}

func TestFreshLockWaitTimeout(t *testing.T) {
	locker := NewMemoryLocker()
	f := newFixture(t, -time.Minute, RefresherConfig{Locker: locker, Timeout: 100 * time.Millisecond})
	// Another process holds the connection's lock.
	lease, err := locker.Lock(context.Background(), lockKey(f.conn.Key()), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(context.Background())
	if _, err := f.r.Fresh(context.Background(), f.stored(t), f.g, ""); !errors.Is(err, ErrRefreshTimeout) {
		t.Fatalf("got %v, want ErrRefreshTimeout", err)
	}
	if f.e.calls.Load() != 0 {
		t.Fatal("refreshed without the lock")
	}
}

// hookStore runs beforeSave once, before the first Save that match accepts:
// another writer acting between the refresher's read and its save.
type hookStore struct {
	*MemoryStore
	match      func(c *Connection) bool
	beforeSave func(ctx context.Context, other *Connection)
	once       sync.Once
}

func (s *hookStore) Save(ctx context.Context, c *Connection) error {
	if s.match == nil || s.match(c) {
		s.once.Do(func() {
			other, _ := s.MemoryStore.Get(ctx, c.Key())
			s.beforeSave(ctx, other)
			_ = s.MemoryStore.Save(ctx, other)
		})
	}
	return s.MemoryStore.Save(ctx, c)
}

// resultSave matches the save of a refresh's outcome (a new token or the
// mark for re-authorization), not the save of its intent.
func resultSave(c *Connection) bool { return c.Refreshing == nil }

func TestFreshSaveConflictKeepsNewToken(t *testing.T) {
	f := newFixture(t, -time.Minute, RefresherConfig{})
	f.r.store = &hookStore{MemoryStore: f.store, match: resultSave, beforeSave: func(_ context.Context, other *Connection) {
		other.Fields = map[string]string{"instance_url": "https://moved.example"}
	}}
	got, err := f.r.Fresh(context.Background(), f.stored(t), f.g, "")
	if err != nil {
		t.Fatal(err)
	}
	s := f.stored(t)
	if s.Credential.RefreshToken != "refresh-1" || s.Fields["instance_url"] != "https://moved.example" || got.Version != s.Version {
		t.Fatal("after a conflict the store must hold the new token and the other writer's fields")
	}
}

// failingStore fails Saves while failing is set.
type failingStore struct {
	*MemoryStore
	mu      sync.Mutex
	failing bool
}

func (s *failingStore) Save(ctx context.Context, c *Connection) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		return fmt.Errorf("%w: test outage", ErrUnavailable)
	}
	return s.MemoryStore.Save(ctx, c)
}

func TestFreshUnsavedTokenIsKept(t *testing.T) {
	f := newFixture(t, -time.Minute, RefresherConfig{})
	fs := &failingStore{MemoryStore: f.store, failing: true}
	f.r.store = fs
	c := f.stored(t)
	_, err := f.r.Fresh(context.Background(), c, f.g, "")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	assertNoSecret(t, err)
	fs.mu.Lock()
	fs.failing = false
	fs.mu.Unlock()
	// The rotated refresh-1 lives only in the refresher now; the next
	// refresh saves it rather than spending refresh-0 again.
	got, err := f.r.Fresh(context.Background(), c, f.g, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Credential.AccessToken != "access-1" || f.stored(t).Credential.RefreshToken != "refresh-1" || f.e.calls.Load() != 1 {
		t.Fatalf("pending token not saved: %d token calls", f.e.calls.Load())
	}
}

func TestCooldownsAreSwept(t *testing.T) {
	f := newFixture(t, -time.Minute, RefresherConfig{Cooldown: time.Second})
	for i := range 100 {
		f.r.setCooldown(Key{ID: fmt.Sprint(i)})
	}
	f.clock.Add(int64(2 * time.Second))
	f.r.setCooldown(Key{ID: "last"})
	if n := len(f.r.cooldowns); n != 1 {
		t.Fatalf("cooldown entries after expiry: %d, want 1", n)
	}
}

func TestDescribeHidesBodies(t *testing.T) {
	f := newFixture(t, -time.Minute, RefresherConfig{})
	f.e.setAnswer(func(w http.ResponseWriter, r *http.Request, n int64) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("upstream said body-secret access-0 refresh-0"))
	})
	_, err := f.r.Fresh(context.Background(), f.stored(t), f.g, "")
	if !errors.Is(err, ErrRefreshFailed) {
		t.Fatalf("got %v", err)
	}
	assertNoSecret(t, err)
	f.e.Close() // a transport failure names no body either
	f.r.clearCooldown(f.conn.Key())
	_, err = f.r.Fresh(context.Background(), f.stored(t), f.g, "")
	if !errors.Is(err, ErrRefreshFailed) {
		t.Fatalf("got %v", err)
	}
	assertNoSecret(t, err)
}

func TestFreshReconnectedDuringRefresh(t *testing.T) {
	// The user connects again (a new grant) while a refresh is under way:
	// the new grant wins, whatever the old one's refresh answered.
	reconnect := func(_ context.Context, other *Connection) {
		other.Credential = Credential{AccessToken: "access-new", RefreshToken: "refresh-new", Expiry: time.Now().Add(time.Hour)}
		other.Status = StatusActive
	}
	t.Run("refresh succeeded", func(t *testing.T) {
		f := newFixture(t, -time.Minute, RefresherConfig{})
		f.r.store = &hookStore{MemoryStore: f.store, match: resultSave, beforeSave: reconnect}
		got, err := f.r.Fresh(context.Background(), f.stored(t), f.g, "")
		if err != nil || got.Credential.AccessToken != "access-new" || f.stored(t).Credential.RefreshToken != "refresh-new" {
			t.Fatalf("got %v; want the reconnected credential kept and returned", err)
		}
	})
	t.Run("grant revoked", func(t *testing.T) {
		f := newFixture(t, -time.Minute, RefresherConfig{})
		f.e.setAnswer(func(w http.ResponseWriter, r *http.Request, n int64) {
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant")
		})
		f.r.store = &hookStore{MemoryStore: f.store, match: resultSave, beforeSave: reconnect}
		_, err := f.r.Fresh(context.Background(), f.stored(t), f.g, "")
		if !errors.Is(err, ErrRefreshFailed) || errors.Is(err, ErrReauthRequired) {
			t.Fatalf("got %v, want a transient failure", err)
		}
		if s := f.stored(t); !s.Active() || s.Credential.RefreshToken != "refresh-new" {
			t.Fatal("the new grant was marked for re-authorization")
		}
	})
}

func TestFreshMarkReauthRetriesConflicts(t *testing.T) {
	f := newFixture(t, -time.Minute, RefresherConfig{})
	f.e.setAnswer(func(w http.ResponseWriter, r *http.Request, n int64) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant")
	})
	f.r.store = &hookStore{MemoryStore: f.store, match: resultSave, beforeSave: func(_ context.Context, other *Connection) {
		other.Fields = map[string]string{"changed": "yes"}
	}}
	if _, err := f.r.Fresh(context.Background(), f.stored(t), f.g, ""); !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("got %v, want ErrReauthRequired", err)
	}
	if s := f.stored(t); s.Status != StatusNeedsReauth || s.Fields["changed"] != "yes" {
		t.Fatal("want the connection marked after a conflict, with the other writer's fields")
	}
}

// grantFunc adapts a function to Grant.
type grantFunc func(ctx context.Context, c *Connection) (*oauth2.Token, error)

func (f grantFunc) Token(ctx context.Context, c *Connection) (*oauth2.Token, error) { return f(ctx, c) }

func TestFreshGrantWithoutAccessToken(t *testing.T) {
	f := newFixture(t, -time.Minute, RefresherConfig{})
	g := grantFunc(func(context.Context, *Connection) (*oauth2.Token, error) { return &oauth2.Token{}, nil })
	if _, err := f.r.Fresh(context.Background(), f.stored(t), g, ""); !errors.Is(err, ErrRefreshFailed) {
		t.Fatalf("got %v, want ErrRefreshFailed", err)
	}
}

func TestFreshInvalidatesCachingStore(t *testing.T) {
	// Two replicas share a backing store; each caches it. Replica B
	// rotated the token; replica A's cache still holds the expired one.
	backing := NewMemoryStore()
	e := newTokenEndpoint(t)
	cacheA, err := NewCached(backing, CachedConfig{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	conn := &Connection{Project: "p", User: "u", Integration: "x", ID: "a",
		Credential: Credential{AccessToken: "access-0", RefreshToken: "refresh-0", Expiry: time.Now().Add(-time.Minute)}}
	if err := cacheA.Save(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	stale, _ := cacheA.Get(context.Background(), conn.Key())
	rotated := stale.Clone()
	rotated.Credential = Credential{AccessToken: "access-B", RefreshToken: "refresh-B", Expiry: time.Now().Add(time.Hour)}
	if err := backing.Save(context.Background(), rotated); err != nil {
		t.Fatal(err)
	}
	r, err := NewRefresher(RefresherConfig{Store: cacheA})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Fresh(context.Background(), stale, RefreshTokenGrant{Config: e.config()}, "")
	if err != nil || got.Credential.AccessToken != "access-B" || e.calls.Load() != 0 {
		t.Fatalf("got %v after %d token calls; want replica B's token and no call", err, e.calls.Load())
	}
}
