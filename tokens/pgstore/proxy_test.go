package pgstore_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
	"github.com/onbehalf/onbehalf/tokens/pgstore"
)

const (
	project     = "proj-pg"
	user        = "user-1"
	integration = "custom.tasklab"
)

// upstream is a TaskLab served on loopback, with a count of every request
// that reached it.
type upstream struct {
	lab  *onbehalftest.TaskLab
	base string // http://localhost:PORT/api
	hits atomic.Int64
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{lab: onbehalftest.NewTaskLab("tasklab-client", "tasklab-secret")}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.lab.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u.base = onbehalftest.LocalhostURL(srv.URL) + "/api"
	return u
}

// seed saves a TaskLab connection whose access token expires after ttl
// (negative: expired already) and returns it.
func (u *upstream) seed(t *testing.T, s tokens.Store, ttl time.Duration) *tokens.Connection {
	t.Helper()
	access, refresh := u.lab.Issue(ttl)
	c := &tokens.Connection{Project: project, User: user, Integration: integration,
		Credential: tokens.Credential{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", Expiry: time.Now().Add(ttl)}}
	if err := s.Save(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// proxy is one replica: an onbehalf handler over store, served on loopback.
func proxy(t *testing.T, u *upstream, signer *onbehalftest.Signer, store tokens.Store, locker tokens.Locker) *httptest.Server {
	t.Helper()
	rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store, Locker: locker})
	if err != nil {
		t.Fatal(err)
	}
	h, err := middleware.New(middleware.Config{
		Projects: []middleware.ProjectConfig{{ID: project, Keys: []middleware.KeyConfig{signer.KeyConfig()},
			Integrations: []middleware.IntegrationConfig{onbehalftest.TaskLabIntegration(u.base, "tasklab-client", "tasklab-secret")}}},
		Store: store, Refresher: rf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// get sends GET /tasks through the proxy at base and returns the status and body.
func get(client *http.Client, base, token string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/projects/"+project+"/sdk/proxy/"+integration+"/tasks", nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// Three replicas (separate handlers, transports, Refreshers and pools, two
// of them with their own Cached in front) share one database. 300
// concurrent requests on a connection whose access token has expired, against
// a token endpoint that rotates refresh tokens and answers invalid_grant to a
// reused one: every request succeeds and the token endpoint is called once.
func TestReplicasRefreshOnce(t *testing.T) {
	_, _, table := newStore(t)
	u := newUpstream(t)
	signer, err := onbehalftest.NewSigner("k1")
	if err != nil {
		t.Fatal(err)
	}
	var replicas []*httptest.Server
	var shared *pgstore.Store
	for i := range 3 {
		s, err := pgstore.New(pgstore.Config{Pool: newPool(t), Table: table})
		if err != nil {
			t.Fatal(err)
		}
		shared = s
		var store tokens.Store = s
		if i < 2 {
			if store, err = tokens.NewCached(s, tokens.CachedConfig{TTL: time.Minute}); err != nil {
				t.Fatal(err)
			}
		}
		replicas = append(replicas, proxy(t, u, signer, store, s))
	}
	seeded := u.seed(t, shared, -time.Minute)
	token := signer.MustToken(project, user)

	const n = 300
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	start := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range n {
		wg.Go(func() {
			<-start
			status, body, err := get(client, replicas[i%3].URL, token)
			if err != nil || status != http.StatusOK {
				if failed.Add(1) <= 5 {
					t.Errorf("request %d via replica %d: %d %s %v", i, i%3, status, body, err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d requests failed", f, n)
	}
	if got := u.lab.Refreshes(); got != 1 {
		t.Fatalf("token endpoint called %d times, want exactly 1", got)
	}
	if got := u.lab.APICalls(); got != n {
		t.Fatalf("upstream served %d API calls, want %d", got, n)
	}
	stored, err := shared.Get(context.Background(), seeded.Key())
	if err != nil {
		t.Fatal(err)
	}
	if stored.Version != seeded.Version+1 {
		t.Fatalf("stored version %d, want %d: one refresh, one save", stored.Version, seeded.Version+1)
	}
	if stored.Credential.AccessToken == seeded.Credential.AccessToken || stored.Credential.RefreshToken == seeded.Credential.RefreshToken {
		t.Fatal("the store does not hold the rotated tokens")
	}
	if !stored.Credential.Expiry.After(time.Now()) {
		t.Fatalf("stored expiry %v is not in the future", stored.Credential.Expiry)
	}
	// The stored access token is the live one: the upstream accepts it.
	req, _ := http.NewRequest(http.MethodGet, u.base+"/tasks", nil)
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

// When Postgres goes away the proxy answers 503 STORE_UNAVAILABLE and sends
// nothing upstream; when it comes back, the same handler (and pool) serves
// again.
func TestProxyStoreUnavailable(t *testing.T) {
	_, _, table := newStore(t)
	cfg, err := pgxpool.ParseConfig(pgDSN())
	if err != nil {
		t.Fatal(err)
	}
	fwd := newForwarder(t, cfg.ConnConfig.Host+":"+strconv.Itoa(int(cfg.ConnConfig.Port)))
	host, port, _ := net.SplitHostPort(fwd.Addr())
	cfg.ConnConfig.Host = host
	p, _ := strconv.Atoi(port)
	cfg.ConnConfig.Port = uint16(p)
	cfg.ConnConfig.Fallbacks = nil
	cfg.ConnConfig.ConnectTimeout = time.Second
	viaFwd, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(viaFwd.Close)
	s, err := pgstore.New(pgstore.Config{Pool: viaFwd, Table: table, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	u := newUpstream(t)
	signer, err := onbehalftest.NewSigner("k1")
	if err != nil {
		t.Fatal(err)
	}
	u.seed(t, s, time.Hour)
	srv := proxy(t, u, signer, s, s)
	token := signer.MustToken(project, user)
	client := &http.Client{Timeout: 10 * time.Second}

	if status, body, err := get(client, srv.URL, token); err != nil || status != http.StatusOK {
		t.Fatalf("with Postgres up: %d %s %v", status, body, err)
	}
	fwd.Down()
	hits := u.hits.Load()
	for range 3 {
		start := time.Now()
		status, body, err := get(client, srv.URL, token)
		if err != nil {
			t.Fatal(err)
		}
		var b response.Body
		if jerr := json.Unmarshal(body, &b); jerr != nil || status != http.StatusServiceUnavailable || b.Code != string(response.CodeStoreUnavailable) {
			t.Fatalf("with Postgres down: %d %s, want 503 %s", status, body, response.CodeStoreUnavailable)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("the 503 took %v", d)
		}
	}
	if got := u.hits.Load(); got != hits {
		t.Fatalf("the upstream received %d requests while the store was down, want none", got-hits)
	}
	fwd.Up(t)
	for i := range 5 {
		if status, body, err := get(client, srv.URL, token); err != nil || status != http.StatusOK {
			t.Fatalf("request %d after Postgres came back: %d %s %v", i, status, body, err)
		}
	}
}
