package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/onbehalftest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the server once per test run, into a temporary directory.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "onbehalf-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "onbehalf")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// proc is one run of the binary.
type proc struct {
	cmd  *exec.Cmd
	addr string // the main listener, from the "onbehalf listening" log line
	mu   sync.Mutex
	logs strings.Builder
	done chan error
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// start runs the binary with the config and environment and waits until it
// listens. It is killed at cleanup if still running.
func start(t *testing.T, cfgPath string, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), "-config", cfgPath)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "onbehalf listening" {
				listening <- rec.Addr
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case p.addr = <-listening:
	case err := <-p.done:
		t.Fatalf("the server exited before listening: %v\n%s", err, p.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("the server did not listen within 60s\n%s", p.log())
	}
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.log())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("no exit within 60s of SIGTERM\n%s", p.log())
	}
}

func (p *proc) url() string { return "http://" + p.addr }

// e2eConfig writes the config with the store section and sealing keys
// (current first) to a file.
func e2eConfig(t *testing.T, prov *provider, signer *onbehalftest.Signer, store string, current string, keys ...string) string {
	var ks []string
	for _, k := range keys {
		ks = append(ks, fmt.Sprintf(`%q: {"env": "SEAL_%s"}`, k, strings.ToUpper(k)))
	}
	sealing := fmt.Sprintf(`"sealing": {"current": %q, "keys": {%s}}`, current, strings.Join(ks, ", "))
	store = strings.TrimSuffix(strings.TrimSpace(store), "}") + ", " + sealing + "}"
	cfg, _ := testConfig(t, prov, signer, store)
	cfg = strings.Replace(cfg, `"publicUrl"`, `"listen": "127.0.0.1:0", "metricsListen": "127.0.0.1:0", "logLevel": "debug", "shutdownSeconds": 60, "publicUrl"`, 1)
	path := filepath.Join(t.TempDir(), "onbehalf.json")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBinaryRedis and TestBinaryPostgres run the built server over a real
// store: import through the management API, proxied calls, a restart that
// finds the connection (and rotates the sealing key), SIGTERM while a
// refresh is in flight, and the refreshed token found after the restart.
func TestBinaryRedis(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { _ = rdb.Close() }) // after the key cleanup below (cleanups run last first)
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		skipOrFail(t, "Redis", err)
	}
	prefix := "onbehalf-e2e-" + randHex(6) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	runBinary(t, fmt.Sprintf(`{"type": "redis", "redis": {"addr": "127.0.0.1:6379", "prefix": %q}}`, prefix), nil, func(t *testing.T) {
		// At rest: no token in the clear.
		keys, err := rdb.Keys(t.Context(), prefix+"*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("no keys under the prefix: %v", err)
		}
		for _, k := range keys {
			if typ, _ := rdb.Type(t.Context(), k).Result(); typ != "hash" {
				continue
			}
			vals, _ := rdb.HGetAll(t.Context(), k).Result()
			for _, v := range vals {
				if strings.Contains(v, "access-") || strings.Contains(v, "refresh-") {
					t.Fatalf("a token is stored in the clear under %s", k)
				}
			}
		}
	})
}

func TestBinaryPostgres(t *testing.T) {
	dsn := "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	if d := os.Getenv("ONBEHALF_PG_DSN"); d != "" {
		dsn = d
	}
	pool, err := pgxpool.New(t.Context(), dsn)
	if err == nil {
		err = pool.Ping(t.Context())
	}
	if err != nil {
		skipOrFail(t, "Postgres", err)
	}
	defer pool.Close()
	table := "onbehalf_e2e_" + randHex(6)
	t.Cleanup(func() { dropTables(dsn, table) })
	runBinary(t, fmt.Sprintf(`{"type": "postgres", "postgres": {"url": {"env": "DATABASE_URL"}, "table": %q}}`, table),
		map[string]string{"DATABASE_URL": dsn}, func(t *testing.T) {
			var cred string
			if err := pool.QueryRow(t.Context(), "SELECT credential::text FROM "+pgx.Identifier{table}.Sanitize()+" LIMIT 1").Scan(&cred); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(cred, "access-") || strings.Contains(cred, "refresh-") {
				t.Fatal("a token is stored in the clear")
			}
		})
}

// dropTables drops a test's connections table and its companions.
func dropTables(dsn, table string) {
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		return
	}
	defer pool.Close()
	var names []string
	for _, s := range []string{"", "_leases", "_metadata"} {
		names = append(names, pgx.Identifier{table + s}.Sanitize())
	}
	_, _ = pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+strings.Join(names, ", "))
}

func skipOrFail(t *testing.T, what string, err error) {
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not reachable: %v (CI=true: may not be skipped)", what, err)
	}
	t.Skipf("%s is not reachable: %v", what, err)
}

func runBinary(t *testing.T, store string, extraEnv map[string]string, atRest func(*testing.T)) {
	prov := newProvider(t)
	signer, err := onbehalftest.NewSigner("k1")
	if err != nil {
		t.Fatal(err)
	}
	k1 := base64.StdEncoding.EncodeToString([]byte(randHex(16)))
	k2 := base64.StdEncoding.EncodeToString([]byte(randHex(16)))
	env := map[string]string{"TASKLAB_SECRET": "client-secret-value", "SEAL_K1": k1, "SEAL_K2": k2}
	for k, v := range extraEnv {
		env[k] = v
	}
	cfg1 := e2eConfig(t, prov, signer, store, "k1", "k1")
	p := start(t, cfg1, env)
	if st, b := call(t, "GET", p.url()+"/readyz", "", ""); st != 200 {
		t.Fatalf("readyz: %d %s", st, b)
	}

	importConn(t, p.url(), "user-1", "c1", "access-0", "refresh-0")
	tok1 := signer.MustToken(project, "user-1")
	proxied := func(base, tok string) (int, string) {
		st, b := call(t, "GET", base+"/projects/"+project+"/sdk/proxy/"+slugKey+"/tasks", bearer(tok), "")
		return st, string(b)
	}
	if st, b := proxied(p.url(), tok1); st != 200 || !strings.Contains(b, `"tasks"`) {
		t.Fatalf("proxied call: %d %s", st, b)
	}
	atRest(t)

	// Restart with a rotated sealing key (k2 current, k1 kept): the
	// connection is found and still opens.
	p.stop(t)
	cfg2 := e2eConfig(t, prov, signer, store, "k2", "k2", "k1")
	p = start(t, cfg2, env)
	if st, b := call(t, "GET", p.url()+"/manage/v1/projects/"+project+"/users/user-1/connections/"+slugKey+"/c1", bearer(readKey), ""); st != 200 {
		t.Fatalf("connection after restart: %d %s", st, b)
	}
	if st, b := proxied(p.url(), tok1); st != 200 {
		t.Fatalf("proxied call after restart: %d %s", st, b)
	}

	// SIGTERM while a refresh is in flight: user-2's access token has
	// expired, the token endpoint is held until the signal was sent.
	expired := fmt.Sprintf(`{"integration": %q, "id": "c2", "credential": {"accessToken": "old-access", "refreshToken": "refresh-0", "expiresAt": %q}}`,
		slugKey, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	if st, b := call(t, "POST", p.url()+"/manage/v1/projects/"+project+"/users/user-2/connections", bearer(writeKey), expired); st != 201 {
		t.Fatalf("import user-2: %d %s", st, b)
	}
	release := make(chan struct{})
	prov.mu.Lock()
	prov.slow = release
	prov.mu.Unlock()
	for len(prov.inToken) > 0 {
		<-prov.inToken
	}
	tok2 := signer.MustToken(project, "user-2")
	type result struct {
		st   int
		body string
	}
	inflight := make(chan result, 1)
	go func() { // no t.Fatal off the test goroutine
		req, _ := http.NewRequest("GET", p.url()+"/projects/"+project+"/sdk/proxy/"+slugKey+"/tasks", nil)
		req.Header.Set("Authorization", bearer(tok2))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			inflight <- result{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		inflight <- result{resp.StatusCode, string(b)}
	}()
	select {
	case <-prov.inToken:
	case <-time.After(30 * time.Second):
		t.Fatal("the refresh did not reach the token endpoint")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The server stops listening but waits for the request and its refresh.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.log(), `"msg":"shutting down"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	r := <-inflight
	if r.st != 200 {
		t.Fatalf("the request in flight at SIGTERM: %d %s", r.st, r.body)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.log())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	prov.mu.Lock()
	prov.slow = nil
	issued := prov.issued
	prov.mu.Unlock()

	// After a restart the refreshed token is there: a call needs no refresh.
	p = start(t, cfg2, env)
	st, b := call(t, "GET", p.url()+"/manage/v1/projects/"+project+"/users/user-2/connections/"+slugKey+"/c2", bearer(readKey), "")
	var v struct {
		Credential struct {
			ExpiresAt  time.Time `json:"expiresAt"`
			ObtainedAt time.Time `json:"obtainedAt"`
		} `json:"credential"`
	}
	if err := json.Unmarshal([]byte(b), &v); st != 200 || err != nil || !v.Credential.ExpiresAt.After(time.Now()) || v.Credential.ObtainedAt.IsZero() {
		t.Fatalf("user-2 after restart: %d %s", st, b)
	}
	if st, b := proxied(p.url(), tok2); st != 200 {
		t.Fatalf("user-2 proxied after restart: %d %s", st, b)
	}
	prov.mu.Lock()
	again := prov.issued
	prov.mu.Unlock()
	if again != issued {
		t.Fatalf("a second refresh was needed after restart (%d → %d): the refreshed token was not saved", issued, again)
	}
	p.stop(t)
	for _, secret := range []string{"access-0", "refresh-0", "client-secret-value", writeKey, readKey, "old-access"} {
		if strings.Contains(p.log(), secret) {
			t.Fatalf("a secret reached the log: %s", secret)
		}
	}
}
