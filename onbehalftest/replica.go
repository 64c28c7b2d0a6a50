package onbehalftest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/tokens"
)

// ReplicaConfig sets up RunReplicaRefresh.
type ReplicaConfig struct {
	// Store is the shared backend. The scenario seeds the connection through
	// it and reads the refreshed one back from it, so it must not cache.
	// Required.
	Store tokens.Store
	// Locker is the lock every replica's Refresher takes, unless NewReplica
	// says otherwise. Nil means one tokens.NewMemoryLocker() shared by all
	// replicas: that proves the Store, not a cross-process Locker.
	Locker tokens.Locker
	// NewReplica, when set, returns the store and locker replica i (from 0)
	// serves from: in a deployment each replica has a client (pool,
	// connection) of its own over the shared backend. Nil means every replica
	// uses Store and Locker.
	NewReplica func(t *testing.T, i int) (tokens.Store, tokens.Locker)
	// Cached is how many replicas, from the first, put a tokens.Cached (TTL
	// one minute) in front of their store, to prove that a cache does not
	// make a replica send or refresh a token another replica has rotated.
	// Zero means none.
	Cached int
	// Replicas is the number of handlers; zero means 3.
	Replicas int
	// Requests is the number of concurrent requests, spread over the replicas
	// in turn; zero means 300.
	Requests int
}

// RunReplicaRefresh runs the multi-replica refresh scenario: several
// onbehalf handlers (separate handlers, transports and Refreshers) share one
// store. Many concurrent requests arrive on a connection whose access token
// has expired, against a TaskLab token endpoint that rotates refresh tokens
// and answers invalid_grant to a reused one. It checks that every request
// succeeds, that the token endpoint is called exactly once, and that the
// store holds the rotated tokens, one version later, which the upstream
// accepts.
//
// The connection belongs to a project unique to the run, so a shared
// external store needs no cleaning between runs.
func RunReplicaRefresh(t *testing.T, cfg ReplicaConfig) {
	t.Helper()
	if cfg.Store == nil {
		t.Fatal("onbehalftest: ReplicaConfig.Store is required")
	}
	if cfg.Locker == nil {
		cfg.Locker = tokens.NewMemoryLocker()
	}
	replicas, n := cfg.Replicas, cfg.Requests
	if replicas <= 0 {
		replicas = 3
	}
	if n <= 0 {
		n = 300
	}
	sp := newStoreProxy(t)
	servers := make([]*httptest.Server, replicas)
	for i := range replicas {
		store, locker := cfg.Store, cfg.Locker
		if cfg.NewReplica != nil {
			store, locker = cfg.NewReplica(t, i)
		}
		if i < cfg.Cached {
			c, err := tokens.NewCached(store, tokens.CachedConfig{TTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			store = c
		}
		servers[i] = sp.replica(t, store, locker)
	}
	seeded := sp.seed(t, cfg.Store, -time.Minute)
	token := sp.token()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	start := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range n {
		wg.Go(func() {
			<-start
			status, body, err := sp.get(client, servers[i%replicas].URL, token)
			if err != nil || status != http.StatusOK {
				if failed.Add(1) <= 5 {
					t.Errorf("request %d via replica %d: %d %s %v", i, i%replicas, status, body, err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d requests failed", f, n)
	}
	if got := sp.lab.Refreshes(); got != 1 {
		t.Fatalf("token endpoint called %d times, want exactly 1", got)
	}
	if got := sp.lab.APICalls(); got != int64(n) {
		t.Fatalf("upstream served %d API calls, want %d", got, n)
	}
	stored, err := cfg.Store.Get(context.Background(), seeded.Key())
	if err != nil {
		t.Fatal(err)
	}
	// One refresh makes two saves: its intent (Connection.Refreshing), then
	// its result, which clears the intent.
	if stored.Version != seeded.Version+2 || stored.Refreshing != nil {
		t.Fatalf("stored version %d, intent %v; want %d and none: one refresh, two saves", stored.Version, stored.Refreshing, seeded.Version+2)
	}
	if stored.Credential.AccessToken == seeded.Credential.AccessToken || stored.Credential.RefreshToken == seeded.Credential.RefreshToken {
		t.Fatal("the store does not hold the rotated tokens")
	}
	if !stored.Credential.Expiry.After(time.Now()) {
		t.Fatalf("stored expiry %v is not in the future", stored.Credential.Expiry)
	}
	// The stored access token is the live one: the upstream accepts it.
	req, _ := http.NewRequest(http.MethodGet, sp.base+"/tasks", nil)
	req.Header.Set("Authorization", "Bearer "+stored.Credential.AccessToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upstream answered %d to the stored access token", resp.StatusCode)
	}
}
