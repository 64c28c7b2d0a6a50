package oauth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/lifecycle"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
	"github.com/onbehalf/onbehalf/tokens/pgstore"
	"github.com/onbehalf/onbehalf/tokens/redisstore"
)

// Three replicas in separate processes, sharing Redis (then Postgres),
// against fosite (rotation, reuse detection). The test binary runs itself as
// each replica: the same top-level test, which finds its settings in
// replicaEnv and serves instead of testing. A replica
// serves the onbehalf handler on a loopback port it prints ("LISTEN <url>"),
// prints each lifecycle event it sends ("EVENT <json>"), and stops when its
// stdin closes; the parent sends the requests, kills replicas with SIGKILL
// and reads the shared store.

// replicaEnv carries a child's replicaSettings, as JSON.
const replicaEnv = "ONBEHALF_E2E_REPLICA"

// keepAliveAgent is the User-Agent of the token requests of a replica's
// KeepAlive, so the token endpoint tells them from a request's refresh.
const keepAliveAgent = "onbehalf-keepalive"

// replicaSettings configure one child.
type replicaSettings struct {
	Backend   string `json:"backend"` // "redis" or "postgres"
	RedisAddr string `json:"redisAddr,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	PGDSN     string `json:"pgDSN,omitempty"`
	Table     string `json:"table,omitempty"`
	AuthBase  string `json:"authBase"` // the fosite server, http://localhost:PORT
	KeyPEM    string `json:"keyPEM"`   // the user-token verification key
	KeyID     string `json:"keyID"`
	// KeepAliveMs, when positive, runs a KeepAlive with that Interval.
	KeepAliveMs int `json:"keepAliveMs,omitempty"`
}

// replicaChild is the body of a replica process.
func replicaChild(t *testing.T, raw string) {
	var s replicaSettings
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatal(err)
	}
	if err := runReplica(s, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "replica:", err)
		t.Fatal(err)
	}
}

// agentTransport sets the User-Agent of the KeepAlive's token requests.
type agentTransport struct{ next http.RoundTripper }

func (a agentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", keepAliveAgent)
	return a.next.RoundTrip(r)
}

// runReplica serves one replica until stdin closes.
func runReplica(s replicaSettings, stdin io.Reader, stdout io.Writer) error {
	ctx := context.Background()
	var store tokens.Store
	var locker tokens.Locker
	switch s.Backend {
	case "redis":
		rdb := redis.NewClient(&redis.Options{Addr: s.RedisAddr, PoolSize: 32})
		defer rdb.Close()
		rs, err := redisstore.New(redisstore.Config{Client: rdb, Prefix: s.Prefix})
		if err != nil {
			return err
		}
		store, locker = rs, rs
	case "postgres":
		pool, err := pgxpool.New(ctx, s.PGDSN)
		if err != nil {
			return err
		}
		defer pool.Close()
		ps, err := pgstore.New(pgstore.Config{Pool: pool, Table: s.Table})
		if err != nil {
			return err
		}
		store, locker = ps, ps
	default:
		return fmt.Errorf("backend %q", s.Backend)
	}
	var outMu sync.Mutex
	emitter, err := lifecycle.NewEmitter(lifecycle.EmitterConfig{Handlers: []func(context.Context, lifecycle.Event){
		func(_ context.Context, ev lifecycle.Event) {
			b, _ := json.Marshal(ev)
			outMu.Lock()
			fmt.Fprintf(stdout, "EVENT %s\n", b)
			outMu.Unlock()
		}}})
	if err != nil {
		return err
	}
	onRefresh, onFailed := emitter.RefreshHooks()
	rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store, Locker: locker, OnRefresh: onRefresh, OnRefreshFailed: onFailed})
	if err != nil {
		return err
	}
	cfg := middleware.Config{
		Projects: []middleware.ProjectConfig{{ID: project, Keys: []middleware.KeyConfig{{PEM: s.KeyPEM, KID: s.KeyID}},
			Integrations: []integrations.Config{fositeIntegration(&authServer{base: s.AuthBase}, "header")}}},
		Store: store, Refresher: rf, Events: emitter,
	}
	if s.KeepAliveMs > 0 {
		kaRefresher, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store, Locker: locker, OnRefresh: onRefresh, OnRefreshFailed: onFailed,
			HTTPClient: &http.Client{Transport: agentTransport{tokens.DirectClient(nil).Transport}, Timeout: 30 * time.Second}})
		if err != nil {
			return err
		}
		cfg.KeepAlive = &tokens.KeepAliveConfig{Refresher: kaRefresher, Interval: time.Duration(s.KeepAliveMs) * time.Millisecond, Ahead: time.Minute}
	}
	h, err := middleware.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	outMu.Lock()
	fmt.Fprintf(stdout, "LISTEN http://%s\n", ln.Addr())
	outMu.Unlock()
	_, _ = io.Copy(io.Discard, stdin) // until the parent closes it
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	h.Close()
	return rf.Shutdown(sctx)
}

// replica is a child process seen from the parent.
type replica struct {
	cmd    *exec.Cmd
	url    string
	stdin  io.WriteCloser
	stderr bytes.Buffer
	mu     sync.Mutex
	events []lifecycle.Event
	done   chan struct{}
}

// startReplicas starts n children running test (the top-level test that
// started them) with settings s, and waits for their ports.
func startReplicas(t *testing.T, test string, n int, s replicaSettings) []*replica {
	t.Helper()
	raw, _ := json.Marshal(s)
	out := make([]*replica, n)
	for i := range n {
		r := &replica{done: make(chan struct{})}
		r.cmd = exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
		r.cmd.Env = append(os.Environ(), replicaEnv+"="+string(raw))
		r.cmd.Stderr = &r.stderr
		stdout, err := r.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if r.stdin, err = r.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		listening := make(chan string, 1)
		go func() {
			defer close(r.done)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				line := sc.Text()
				switch {
				case strings.HasPrefix(line, "LISTEN "):
					listening <- strings.TrimPrefix(line, "LISTEN ")
				case strings.HasPrefix(line, "EVENT "):
					var ev lifecycle.Event
					if json.Unmarshal([]byte(strings.TrimPrefix(line, "EVENT ")), &ev) == nil {
						r.mu.Lock()
						r.events = append(r.events, ev)
						r.mu.Unlock()
					}
				}
			}
			_ = r.cmd.Wait()
		}()
		t.Cleanup(func() { r.stop(t) })
		select {
		case r.url = <-listening:
		case <-r.done:
			t.Fatalf("replica %d exited before listening: %s", i, r.stderr.String())
		case <-time.After(60 * time.Second):
			t.Fatalf("replica %d did not start: %s", i, r.stderr.String())
		}
		out[i] = r
	}
	return out
}

// stop closes the child's stdin (a clean stop) and waits; a child that
// does not stop is killed.
func (r *replica) stop(t *testing.T) {
	_ = r.stdin.Close()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
		t.Errorf("a replica did not stop when asked: %s", r.stderr.String())
	}
}

// kill ends the child with SIGKILL: no deferred code, no lease released.
func (r *replica) kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-r.done
}

// eventList returns the events the child printed, as "type/reason".
func (r *replica) eventList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		out = append(out, string(ev.Type)+"/"+ev.Reason)
	}
	return out
}

// backend is a shared store for the parent and the settings for children.
type backend struct {
	name     string
	store    tokens.Store
	settings replicaSettings
}

// redisBackend returns a Redis backend with a prefix of its own, deleted at
// cleanup; the test is skipped when Redis is unreachable (fails under
// CI=true).
func redisBackend(t *testing.T) backend {
	t.Helper()
	addr := os.Getenv("ONBEHALF_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		skipOrFail(t, "Redis", err)
	}
	prefix := "onbehalfe2e:" + randomHex() + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			_ = rdb.Del(ctx, iter.Val()).Err()
		}
	})
	s, err := redisstore.New(redisstore.Config{Client: rdb, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return backend{name: "redis", store: s, settings: replicaSettings{Backend: "redis", RedisAddr: addr, Prefix: prefix}}
}

// pgBackend returns a Postgres backend with tables of its own, dropped at
// cleanup.
func pgBackend(t *testing.T) backend {
	t.Helper()
	dsn := os.Getenv("ONBEHALF_PG_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		skipOrFail(t, "Postgres", err)
	}
	t.Cleanup(pool.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := pool.Ping(ctx); err != nil {
		skipOrFail(t, "Postgres", err)
	}
	table := "e2e_" + randomHex()
	s, err := pgstore.New(pgstore.Config{Pool: pool, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize()+", "+pgx.Identifier{table + "_leases"}.Sanitize())
	})
	// Each child has a pool of its own: keep them small.
	return backend{name: "postgres", store: s, settings: replicaSettings{Backend: "postgres", PGDSN: dsn + "&pool_max_conns=8", Table: table}}
}

func skipOrFail(t *testing.T, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not reachable: %v (CI=true: this test may not be skipped)", what, err)
	}
	t.Skipf("%s is not reachable (%v); CI=true turns this skip into a failure", what, err)
}

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// replicaRun is one scenario: fosite, a backend, a seeded connection, a
// signer, and the children.
type replicaRun struct {
	as       *authServer
	be       backend
	signer   *onbehalftest.Signer
	key      tokens.Key
	seeded   *oauth2.Token
	replicas []*replica
	client   *http.Client
}

func newReplicaRun(t *testing.T, be backend, accessTTL time.Duration, keepAliveMs int) *replicaRun {
	top, _, _ := strings.Cut(t.Name(), "/")
	t.Helper()
	as := newAuthServer(t)
	signer, err := onbehalftest.NewSigner("e2e-replicas")
	if err != nil {
		t.Fatal(err)
	}
	run := &replicaRun{as: as, be: be, signer: signer,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	t.Cleanup(run.client.CloseIdleConnections)
	run.seeded = as.seed(t, accessTTL)
	obtained := time.Now()
	if accessTTL < 0 {
		obtained = time.Now().Add(-time.Hour)
	}
	user := "user-" + randomHex()
	cred := tokens.Credential{}.WithOAuth2Token(run.seeded)
	cred.ObtainedAt = obtained.Round(0)
	c := &tokens.Connection{Project: project, User: user, Integration: integration, Credential: cred}
	if err := be.store.Save(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	run.key = c.Key()
	s := be.settings
	s.AuthBase, s.KeyPEM, s.KeyID, s.KeepAliveMs = as.base, signer.PublicKeyPEM(), signer.KeyConfig().KID, keepAliveMs
	run.replicas = startReplicas(t, top, 3, s)
	return run
}

// get sends one proxied GET to replica i and returns its status and body.
func (run *replicaRun) get(ctx context.Context, i int) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		run.replicas[i].url+"/projects/"+project+"/sdk/proxy/"+integration+"/tasks", nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+run.signer.MustToken(project, run.key.User))
	resp, err := run.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (run *replicaRun) stored(t *testing.T) *tokens.Connection {
	t.Helper()
	c, err := run.be.store.Get(context.Background(), run.key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// load sends requests from workers goroutines per replica for d and
// returns how many got 200 and the other outcomes.
func (run *replicaRun) load(t *testing.T, d time.Duration, workers int) (ok int64, failures []string) {
	t.Helper()
	var mu sync.Mutex
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for i := range run.replicas {
		for range workers {
			wg.Go(func() {
				for time.Now().Before(stop) {
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					code, body, err := run.get(ctx, i)
					cancel()
					if err == nil && code == http.StatusOK {
						n.Add(1)
						continue
					}
					mu.Lock()
					if len(failures) < 10 {
						failures = append(failures, fmt.Sprintf("replica %d: %d %v %s", i, code, err, body))
					} else {
						failures = append(failures, "")
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return n.Load(), failures
}

// TestReplicasRedis and TestReplicasPostgres run the scenarios on each
// backend; in a replica process they serve as that replica.
func TestReplicasRedis(t *testing.T)    { replicaScenarios(t, redisBackend) }
func TestReplicasPostgres(t *testing.T) { replicaScenarios(t, pgBackend) }

func replicaScenarios(t *testing.T, newBackend func(*testing.T) backend) {
	if raw := os.Getenv(replicaEnv); raw != "" {
		replicaChild(t, raw)
		return
	}
	if testing.Short() {
		t.Skip("three replica processes: not in -short")
	}
	t.Run("ShortTokens", func(t *testing.T) { testShortTokens(t, newBackend(t), 0) })
	t.Run("ShortTokensKeepAlive", func(t *testing.T) { testShortTokens(t, newBackend(t), 200) })
	t.Run("HolderKilledBeforeRotation", func(t *testing.T) { testHolderKilled(t, newBackend(t), false) })
	t.Run("HolderKilledAfterRotation", func(t *testing.T) { testHolderKilled(t, newBackend(t), true) })
}

// shortTTL is the scaled access-token lifetime: the 30-second tokens
// (shorter than the one-minute margin) scaled down tenfold. The Refresher
// renews a token once half its lifetime is left (MaxMarginFraction), so
// each token serves 1.5 s; the load runs loadFor, several cycles.
const (
	shortTTL = 3 * time.Second
	loadFor  = 10 * time.Second
)

// testShortTokens: three replicas under load on 3-second tokens refresh
// once per cycle (never the same refresh token twice, so fosite detects no
// reuse, and no more refreshes than cycles), and no caller sees an error.
// With the KeepAlive on (keepAliveMs), every refresh is the KeepAlive's: no
// request waits on the token endpoint.
func testShortTokens(t *testing.T, be backend, keepAliveMs int) {
	run := newReplicaRun(t, be, shortTTL, keepAliveMs)
	ttl := shortTTL
	run.as.mu.Lock()
	run.as.client.TokenLifespans.RefreshTokenGrantAccessTokenLifespan = &ttl
	run.as.mu.Unlock()
	before := run.as.stats()

	ok, failures := run.load(t, loadFor, 4)
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed, the first: %q", len(failures), ok+int64(len(failures)), failures[:min(len(failures), 10)])
	}
	s := run.as.stats()
	refreshes := s.Refreshes - before.Refreshes
	run.as.assertNoReuse(t)
	c := run.stored(t)
	if !c.Active() || c.Credential.RefreshToken != s.lastIssued() {
		t.Errorf("stored connection: active %v, holds the last issued refresh token %v", c.Active(), c.Credential.RefreshToken == s.lastIssued())
	}
	// One refresh per cycle. The token's lifetime as the proxy sees it is
	// expires_in, which fosite rounds down to whole seconds: 2 s or 3 s of
	// the 3, token by token, depending on when within a second it answers,
	// so the cycle is bounded by the shorter. The Refresher renews a token
	// once MaxMarginFraction of it is left; the KeepAlive two Intervals
	// earlier. Two refreshes of one cycle would be milliseconds apart:
	// consecutive ones are at least half a cycle apart, and there are no
	// more than the run has cycles.
	life := c.Credential.Expiry.Sub(c.Credential.ObtainedAt)
	cycle := time.Duration(float64(min(life, shortTTL-time.Second)) * tokens.MaxMarginFraction)
	if keepAliveMs > 0 {
		cycle -= 2 * time.Duration(keepAliveMs) * time.Millisecond
	}
	okAt := s.OKAt[len(before.OKAt):]
	minGap := time.Duration(1<<63 - 1)
	for i := 1; i < len(okAt); i++ {
		minGap = min(minGap, okAt[i].Sub(okAt[i-1]))
	}
	if refreshes < int(loadFor/shortTTL) || refreshes > int(loadFor/cycle)+2 || s.RefreshNo != 0 ||
		s.RefreshOK-before.RefreshOK != refreshes || minGap < cycle/2 {
		t.Errorf("refresh grants over %v: %d (%d refused), closest two %v apart; want one per %v cycle: %d to %d, none refused, at least %v apart",
			loadFor, refreshes, s.RefreshNo, minGap, cycle, int(loadFor/shortTTL), int(loadFor/cycle)+2, cycle/2)
	}
	byRequests := refreshes - (s.Agents[keepAliveAgent] - before.Agents[keepAliveAgent])
	if keepAliveMs > 0 && byRequests != 0 {
		t.Errorf("%d of %d refreshes were made by requests, want every one by the KeepAlive (no request waits on the token endpoint)", byRequests, refreshes)
	}
	t.Logf("%s, %v tokens (expires_in %v), keep-alive %dms: %d requests over %v, all 200; %d refreshes (%d by requests), closest two %v apart; %d upstream 401s (an old token revoked by a rotation) answered by a replay",
		be.name, shortTTL, life, keepAliveMs, ok, loadFor, refreshes, byRequests, minGap.Round(time.Millisecond), run.as.api401.Load())
}

// testHolderKilled: the replica holding the refresh lease is killed with
// SIGKILL while the token endpoint holds its refresh: before fosite rotated
// (afterRotation false) or after (true). The other replicas' callers wait
// for the lease to run out (9 s at most after the last heartbeat) and then:
//
//   - before the rotation: the successor finds the intent, presents the
//     same refresh token, which fosite never saw, and every caller gets
//     200; the first 200 comes within 10 s of the kill (measured, failing
//     above 20 s); no grant is lost;
//   - after the rotation: the successor presents the refresh token fosite
//     has rotated out; fosite takes it for a stolen one (reuse detection)
//     and revokes the grant: the connection is needs_reauth with reason
//     refresh_lost, a "re-authorization required" event says so, and the
//     callers get 403 REAUTH_REQUIRED, not a timeout.
func testHolderKilled(t *testing.T, be backend, afterRotation bool) {
	run := newReplicaRun(t, be, -time.Hour, 0)
	arrived := make(chan struct{}, 1)
	run.as.setFault(&tokenFault{hangBefore: !afterRotation, hangAfter: afterRotation, once: true, arrived: arrived})

	type outcome struct {
		code int
		body []byte
		err  error
		at   time.Time
	}
	holder := make(chan outcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		code, body, err := run.get(ctx, 0)
		holder <- outcome{code, body, err, time.Now()}
	}()
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the first replica's refresh never reached the token endpoint")
	}
	// Callers on the other replicas pile up behind the lease.
	const waiting = 10
	results := make(chan outcome, 2*waiting)
	for i := 1; i <= 2; i++ {
		for range waiting {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				code, body, err := run.get(ctx, i)
				results <- outcome{code, body, err, time.Now()}
			}()
		}
	}
	time.Sleep(500 * time.Millisecond)
	killed := time.Now()
	run.replicas[0].kill(t)
	if h := <-holder; h.err == nil {
		t.Fatalf("the killed replica answered its caller: %d %s", h.code, h.body)
	}

	var first time.Duration
	codes := map[int]int{}
	for range 2 * waiting {
		r := <-results
		if r.err != nil {
			t.Fatalf("a caller of a surviving replica: %v", r.err)
		}
		codes[r.code]++
		if r.code == http.StatusOK && (first == 0 || r.at.Sub(killed) < first) {
			first = r.at.Sub(killed)
		}
		if afterRotation {
			var b response.Body
			if r.code != http.StatusForbidden || json.Unmarshal(r.body, &b) != nil || b.Code != string(response.CodeReauthRequired) {
				t.Fatalf("after the rotation: a caller got %d %s, want 403 %s", r.code, r.body, response.CodeReauthRequired)
			}
		} else if r.code != http.StatusOK {
			t.Fatalf("before the rotation: a caller got %d %s, want 200", r.code, r.body)
		}
	}
	s := run.as.stats()
	c := run.stored(t)
	if !afterRotation {
		if first > 20*time.Second {
			t.Errorf("first 200 on another replica %v after the kill, want within 10 s (20 s with slack)", first)
		}
		if !c.Active() || c.Credential.RefreshToken != s.lastIssued() || c.Credential.RefreshToken == run.seeded.RefreshToken || c.Refreshing != nil {
			t.Errorf("stored: status %q, last issued refresh token %v, intent %v; want active with the rotated token and no intent",
				c.Status, c.Credential.RefreshToken == s.lastIssued(), c.Refreshing)
		}
		run.as.assertNoReuse(t)
		if code, body, err := run.get(context.Background(), 1); err != nil || code != http.StatusOK {
			t.Fatalf("after the takeover: %d %s %v, want 200", code, body, err)
		}
		t.Logf("%s, holder killed before the rotation: first 200 on another replica %v after SIGKILL; %v; %d refresh grants, no reuse",
			be.name, first.Round(time.Millisecond), codes, s.Refreshes)
		return
	}
	if c.Status != tokens.StatusNeedsReauth || c.Reason != tokens.ReasonRefreshLost {
		t.Errorf("stored: status %q reason %q, want needs_reauth, %s", c.Status, c.Reason, tokens.ReasonRefreshLost)
	}
	if len(s.Reused) != 1 || s.Reused[0] != run.seeded.RefreshToken {
		t.Errorf("refresh tokens presented twice: %d, want the seeded one, once retried by the successor", len(s.Reused))
	}
	var reauth int
	var who []string
	for i, r := range run.replicas[1:] {
		for _, ev := range r.eventList() {
			who = append(who, fmt.Sprintf("replica %d: %s", i+1, ev))
			if ev == string(lifecycle.TypeReauthRequired)+"/"+tokens.ReasonRefreshLost {
				reauth++
			}
		}
	}
	if reauth != 1 {
		t.Errorf("events %v, want one %s with reason %s", who, lifecycle.TypeReauthRequired, tokens.ReasonRefreshLost)
	}
	var settled time.Duration
	deadline := time.Now().Add(20 * time.Second)
	for settled == 0 && time.Now().Before(deadline) {
		// Later callers are refused at once, without a token request.
		code, _, err := run.get(context.Background(), 2)
		if err == nil && code == http.StatusForbidden {
			settled = time.Since(killed)
		}
	}
	if got := run.as.stats().Refreshes; got != s.Refreshes {
		t.Errorf("refresh grants after the connection was marked: %d more, want 0", got-s.Refreshes)
	}
	t.Logf("%s, holder killed after the rotation: callers %v; connection needs_reauth (%s) and the event sent; decided %v after SIGKILL",
		be.name, codes, c.Reason, settled.Round(time.Millisecond))
}
