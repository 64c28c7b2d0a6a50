package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/lifecycle"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/tokens"
)

var _ middleware.Events = (*lifecycle.Emitter)(nil)

// eventLog collects an Emitter's events.
type eventLog struct {
	mu  sync.Mutex
	evs []lifecycle.Event
}

func newEventLog(t *testing.T) (*lifecycle.Emitter, *eventLog) {
	t.Helper()
	l := &eventLog{}
	em, err := lifecycle.NewEmitter(lifecycle.EmitterConfig{Handlers: []func(context.Context, lifecycle.Event){
		func(_ context.Context, ev lifecycle.Event) { l.mu.Lock(); l.evs = append(l.evs, ev); l.mu.Unlock() }}})
	if err != nil {
		t.Fatal(err)
	}
	return em, l
}

// take returns the events since the last take, as "type/reason".
func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ev := range l.evs {
		out = append(out, string(ev.Type)+"/"+ev.Reason)
	}
	l.evs = nil
	return out
}

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// tokenServer answers refresh grants with numbered tokens and counts them.
func tokenServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		i := n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":"fresh-at-%d","refresh_token":"fresh-rt-%d","token_type":"Bearer","expires_in":3600}`, i, i)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestVerifyConnection: the on-demand verification records its outcome in
// the connection's health (and /sdk/me), sends "verification failed" once
// per episode and "recovered" when it passes again, and refreshes once on a
// 401 to the verification before it decides.
func TestVerifyConnection(t *testing.T) {
	rec := newRecorder(t)
	tokenSrv, tokenCalls := tokenServer(t)
	in := localIntegration(rec, "vf", integrations.SchemeConfig{Type: integrations.AuthOAuth2,
		TokenURL: tokenSrv.URL + "/token", ClientID: "cid", ClientSecret: "secret", AuthStyle: "header"})
	in.Verify = &integrations.Verification{Path: "/me"}
	plain := localIntegration(rec, "noverify", integrations.SchemeConfig{Type: integrations.AuthAPIKey})
	em, log := newEventLog(t)
	e := envWith(t, []integrations.Config{in, plain}, func(c *middleware.Config) { c.Events = em })
	c := connect(t, e, "vf", tokens.Credential{AccessToken: "old-at", RefreshToken: "old-rt", TokenType: "Bearer",
		Expiry: time.Now().Add(time.Hour)}, nil)
	var status atomic.Int64
	status.Store(200)
	var rejectOld atomic.Bool
	rec.setReply(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/base/me" {
			w.WriteHeader(404)
			return
		}
		if rejectOld.Load() && r.Header.Get("Authorization") == "Bearer old-at" {
			w.WriteHeader(401)
			return
		}
		w.WriteHeader(int(status.Load()))
	})
	ctx := context.Background()
	verify := func(want tokens.HealthState, wantCode string, wantEvents ...string) tokens.Health {
		t.Helper()
		h, err := e.Handler.VerifyConnection(ctx, c.Key())
		if err != nil {
			t.Fatalf("VerifyConnection: %v", err)
		}
		if h.State != want || h.LastError != wantCode || h.LastVerified.IsZero() {
			t.Fatalf("health %+v, want %s %q with LastVerified", h, want, wantCode)
		}
		if got := log.take(); !equal(got, wantEvents) {
			t.Fatalf("events %v, want %v", got, wantEvents)
		}
		return h
	}
	verify(tokens.HealthHealthy, "")
	status.Store(403)
	verify(tokens.HealthVerificationFailed, "http_403", "connection.verification_failed/http_403")
	verify(tokens.HealthVerificationFailed, "http_403") // still failing: no second event
	stored, _ := e.Store.Get(ctx, c.Key())
	if stored.VerifyError != "http_403" || tokens.HealthOf(stored).State != tokens.HealthVerificationFailed {
		t.Fatalf("stored: VerifyError %q, want http_403", stored.VerifyError)
	}
	// /sdk/me shows it.
	code, body := e.Get(t, e.Server.URL+"/projects/"+e.Project+"/sdk/me")
	var me struct {
		Integrations map[string]struct {
			AllCredentials []struct {
				Health struct{ State, LastError, LastVerified string }
			}
		}
	}
	if err := json.Unmarshal(body, &me); code != 200 || err != nil {
		t.Fatalf("/sdk/me: %d %s", code, body)
	}
	if h := me.Integrations["vf"].AllCredentials[0].Health; h.State != "verification_failed" || h.LastError != "http_403" || h.LastVerified == "" {
		t.Fatalf("/sdk/me health %+v, want verification_failed http_403 with lastVerified", h)
	}
	status.Store(200)
	verify(tokens.HealthHealthy, "", "connection.recovered/verified")

	// A 401 to the verification: one refresh, the verification again.
	rejectOld.Store(true)
	verify(tokens.HealthHealthy, "", "connection.refreshed/")
	if n := tokenCalls.Load(); n != 1 {
		t.Fatalf("token calls %d, want 1", n)
	}

	// What cannot be verified says so, and records nothing.
	if _, err := e.Handler.VerifyConnection(ctx, tokens.Key{Project: e.Project, User: e.User, Integration: "vf", ID: "nope"}); !errors.Is(err, tokens.ErrNotFound) {
		t.Fatalf("unknown connection: %v, want ErrNotFound", err)
	}
	p := connect(t, e, "noverify", tokens.Credential{APIKey: "k"}, nil)
	if _, err := e.Handler.VerifyConnection(ctx, p.Key()); !errors.Is(err, integrations.ErrNoVerification) {
		t.Fatalf("integration without verification: %v, want ErrNoVerification", err)
	}
	if _, err := e.Handler.VerifyConnection(ctx, tokens.Key{Project: e.Project, User: e.User, Integration: "nosuch"}); !errors.Is(err, integrations.ErrNotFound) {
		t.Fatalf("unknown integration: %v, want integrations.ErrNotFound", err)
	}
}

// countingStore counts the Saves and Gets of a Store, passing its indexes
// through.
type countingStore struct {
	tokens.Store
	saves, gets atomic.Int64
}

func (s *countingStore) Save(ctx context.Context, c *tokens.Connection) error {
	s.saves.Add(1)
	return s.Store.Save(ctx, c)
}

func (s *countingStore) Get(ctx context.Context, k tokens.Key) (*tokens.Connection, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, k)
}

func (s *countingStore) Unwrap() tokens.Store { return s.Store }

// TestLastUsedWithoutStoreWritePerRequest: 200 proxied requests write
// nothing to the store on their way (last use is marked in memory); the
// handler writes it once (here at Close, before the interval), and /sdk/me
// shows it.
func TestLastUsedWithoutStoreWritePerRequest(t *testing.T) {
	var cs *countingStore
	e := envWith(t, nil, func(c *middleware.Config) {
		cs = &countingStore{Store: c.Store}
		c.Store = cs
		c.LastUsedInterval = time.Hour
	})
	before := cs.saves.Load()
	const n = 200
	for range n {
		if code, body := e.Get(t, e.ProxyURL("custom.tasklab", "tasks")); code != 200 {
			t.Fatalf("proxied call: %d %s", code, body)
		}
	}
	if s := cs.saves.Load() - before; s != 0 {
		t.Fatalf("%d requests made %d store writes, want 0", n, s)
	}
	e.Handler.Close() // writes the marks
	if s := cs.saves.Load() - before; s != 1 {
		t.Fatalf("store writes after Close: %d, want 1 for %d requests", s, n)
	}
	c, err := e.Store.Get(context.Background(), e.Connection.Key())
	if err != nil || c.LastUsed.IsZero() || time.Since(c.LastUsed) > time.Minute {
		t.Fatalf("LastUsed %v (%v), want now", c.LastUsed, err)
	}
	if !tokens.HealthOf(c).LastUsed.Equal(c.LastUsed) {
		t.Fatal("HealthOf does not carry LastUsed")
	}
}

// A failed answer (401 after the refresh, 5xx) is not a successful use.
func TestLastUsedOnlyOnSuccess(t *testing.T) {
	rec := newRecorder(t)
	in := localIntegration(rec, "lu", integrations.SchemeConfig{Type: integrations.AuthAPIKey})
	e := envWith(t, []integrations.Config{in}, func(c *middleware.Config) { c.LastUsedInterval = time.Hour })
	c := connect(t, e, "lu", tokens.Credential{APIKey: "k"}, nil)
	rec.setReply(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	resp := e.Do(t, "GET", e.ProxyURL("lu", "x"), nil, nil)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	e.Handler.Close()
	if got, _ := e.Store.Get(context.Background(), c.Key()); !got.LastUsed.IsZero() {
		t.Fatalf("a 503 set LastUsed %v", got.LastUsed)
	}
}

// Config.KeepAlive with VerifyEvery verifies connections on a schedule
// through VerifyConnection: the outcome is recorded and the event sent.
func TestKeepAliveScheduledVerification(t *testing.T) {
	rec := newRecorder(t)
	in := localIntegration(rec, "sv", integrations.SchemeConfig{Type: integrations.AuthAPIKey})
	in.Verify = &integrations.Verification{Path: "/me"}
	rec.setReply(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(403) })
	em, log := newEventLog(t)
	var c *tokens.Connection
	e := envWith(t, []integrations.Config{in}, func(cfg *middleware.Config) {
		cfg.Events = em
		// Seeded before New, so that the first tick finds it.
		c = &tokens.Connection{Project: "proj-test", User: "user-1", Integration: "sv", Credential: tokens.Credential{APIKey: "k"},
			CreatedAt: time.Now().Add(-2 * time.Hour)}
		if err := cfg.Store.Save(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		cfg.KeepAlive = &tokens.KeepAliveConfig{Interval: 50 * time.Millisecond, VerifyEvery: map[string]time.Duration{"sv": time.Hour}}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := e.Store.Get(context.Background(), c.Key())
		if err != nil {
			t.Fatal(err)
		}
		if !got.Verified.IsZero() {
			if h := tokens.HealthOf(got); h.State != tokens.HealthVerificationFailed || h.LastError != "http_403" {
				t.Fatalf("health %+v, want verification_failed http_403", h)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scheduled verification never ran")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := rec.count.Load(); n != 1 {
		t.Fatalf("the provider got %d verification requests, want 1 (verified within the hour)", n)
	}
	if got := log.take(); !equal(got, []string{"connection.verification_failed/http_403"}) {
		t.Fatalf("events %v", got)
	}
}

// TestSecurityVerifyThroughDialGuard: the verification request goes through
// the same dial-time guard as proxied calls: an integration whose base
// resolves to loopback without allowAddresses is refused before anything
// reaches the listener, and the refusal is recorded as a failed
// verification.
func TestSecurityVerifyThroughDialGuard(t *testing.T) {
	rec := newRecorder(t)
	in := localIntegration(rec, "guarded", integrations.SchemeConfig{Type: integrations.AuthAPIKey})
	in.AllowAddresses = nil
	in.Verify = &integrations.Verification{Path: "/me"}
	e := envWith(t, []integrations.Config{in})
	c := connect(t, e, "guarded", tokens.Credential{APIKey: "k"}, nil)
	h, err := e.Handler.VerifyConnection(context.Background(), c.Key())
	if err != nil {
		t.Fatal(err)
	}
	if n := rec.count.Load(); n != 0 {
		t.Fatalf("the verification reached a loopback listener %d times through the guard", n)
	}
	if h.State != tokens.HealthVerificationFailed || h.LastError == "" {
		t.Fatalf("health %+v, want verification_failed with a code", h)
	}
}
