package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// Every case runs against fosite, which rotates refresh tokens and treats a
// second use of one as theft (it revokes the whole family). A proxy that
// refreshed twice, or lost a rotated token, fails these tests at fosite.

// 200 requests arrive at once on a connection whose access token has expired
// (at fosite too): they share one refresh.
func TestConcurrentRequestsRefreshOnce(t *testing.T) {
	as := newAuthServer(t)
	tok := as.seed(t, -time.Hour)
	if !tok.Expiry.Before(time.Now()) {
		t.Fatalf("seeded access token expires %v, want in the past", tok.Expiry)
	}
	e := newProxyEnv(t, as, tok, proxyOptions{})
	// A slower token endpoint keeps the refresh in flight while the
	// requests pile up behind it.
	as.setFault(&tokenFault{delayAfter: 200 * time.Millisecond})

	const n = 200
	for i, r := range e.fanOut(n, "tasks", 20*time.Second) {
		if r.err != nil || r.status != http.StatusOK {
			t.Fatalf("request %d: status %d, err %v, body %s; want 200", i, r.status, r.err, r.body)
		}
		if !strings.Contains(string(r.body), `/api/tasks`) {
			t.Fatalf("request %d: body %s, want the API's answer", i, r.body)
		}
	}

	s := as.stats()
	if s.Refreshes != 1 || s.RefreshOK != 1 {
		t.Errorf("token endpoint saw %d refresh grants (%d answered), want exactly 1", s.Refreshes, s.RefreshOK)
	}
	if got := s.Calls - s.Seeds; got != 1 {
		t.Errorf("token endpoint calls besides seeding: got %d, want 1", got)
	}
	as.assertNoReuse(t)
	if got := as.api401.Load(); got != 0 {
		t.Errorf("API answered 401 %d times, want 0 (no request went out with the expired token)", got)
	}
	if got := as.apiCalls.Load(); got != n {
		t.Errorf("API calls: got %d, want %d", got, n)
	}
	c := e.stored(t)
	if c.Credential.RefreshToken != s.lastIssued() || c.Credential.RefreshToken == tok.RefreshToken {
		t.Error("stored refresh token is not the rotated one fosite issued")
	}
	if c.Credential.AccessToken == tok.AccessToken || !c.Credential.Expiry.After(time.Now().Add(30*time.Minute)) {
		t.Errorf("stored access token not renewed (expiry %v)", c.Credential.Expiry)
	}
	if !c.Active() {
		t.Errorf("status %q, want active", c.Status)
	}
}

// The only caller goes away while the token endpoint is rotating: the refresh
// still completes and its rotated refresh token is saved, and fosite accepts
// that token on the next refresh.
func TestRotatedTokenSavedWhenClientDisconnects(t *testing.T) {
	as := newAuthServer(t)
	tok := as.seed(t, -time.Hour)
	e := newProxyEnv(t, as, tok, proxyOptions{})
	arrived := make(chan struct{}, 1)
	as.setFault(&tokenFault{delayAfter: 500 * time.Millisecond, arrived: arrived})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() { done <- e.do(ctx, http.MethodGet, "tasks", "") }()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the refresh never reached the token endpoint")
	}
	cancel() // the client disconnects mid-refresh
	select {
	case r := <-done:
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("caller: status %d, err %v; want context.Canceled", r.status, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the canceled request did not return")
	}

	// The refresh goes on without its caller; wait for its save.
	deadline := time.Now().Add(5 * time.Second)
	for e.stored(t).Credential.RefreshToken == tok.RefreshToken {
		if time.Now().After(deadline) {
			t.Fatal("the rotated refresh token was never saved")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := as.stats()
	if s.Refreshes != 1 || s.RefreshOK != 1 {
		t.Fatalf("refresh grants: got %d (%d answered), want 1", s.Refreshes, s.RefreshOK)
	}
	if got := e.stored(t).Credential.RefreshToken; got != s.lastIssued() {
		t.Fatal("stored refresh token is not the one fosite issued last")
	}

	// The saved access token is used as is.
	as.setFault(nil)
	if r := e.get(t, "tasks"); r.status != http.StatusOK {
		t.Fatalf("after the disconnect: status %d %s, want 200", r.status, r.body)
	}
	if got := as.stats().Refreshes; got != 1 {
		t.Errorf("refresh grants after a request on the saved token: got %d, want 1", got)
	}

	// And fosite accepts the saved refresh token: no reuse is detected.
	e.expire(t)
	if r := e.get(t, "tasks"); r.status != http.StatusOK {
		t.Fatalf("refresh with the saved token: status %d %s, want 200", r.status, r.body)
	}
	s = as.stats()
	if s.Refreshes != 2 || s.RefreshOK != 2 || s.RefreshNo != 0 {
		t.Errorf("refresh grants: got %d (%d answered, %d refused), want 2 answered", s.Refreshes, s.RefreshOK, s.RefreshNo)
	}
	if got := e.stored(t).Credential.RefreshToken; got != s.lastIssued() {
		t.Error("stored refresh token is not the one fosite issued last")
	}
	as.assertNoReuse(t)
}

// The user revoked the app at the provider: the connection is marked for
// re-authorization after one token request, every caller gets a clear 403,
// and no later request reaches the token endpoint.
func TestRevokedRefreshToken(t *testing.T) {
	as := newAuthServer(t)
	tok := as.seed(t, -time.Hour)
	e := newProxyEnv(t, as, tok, proxyOptions{AuthStyle: "header"})
	as.revokeRefresh(t, tok.RefreshToken)
	before := as.stats()

	check := func(round string, rs []result) {
		t.Helper()
		for i, r := range rs {
			if r.err != nil || r.status != http.StatusForbidden {
				t.Fatalf("%s request %d: status %d, err %v, body %s; want 403", round, i, r.status, r.err, r.body)
			}
			b := r.errorBody(t)
			if b.Code != string(response.CodeReauthRequired) || b.IsIntegrationError() || b.Message == "" {
				t.Fatalf("%s request %d: body %s, want code %s from the proxy with a message", round, i, r.body, response.CodeReauthRequired)
			}
			if strings.Contains(string(r.body), tok.RefreshToken) || strings.Contains(string(r.body), tok.AccessToken) {
				t.Fatalf("%s request %d: the error body holds a token", round, i)
			}
		}
	}
	check("first", e.fanOut(50, "tasks", 10*time.Second))
	s := as.stats()
	if got := s.Refreshes - before.Refreshes; got != 1 || s.RefreshNo != 1 {
		t.Errorf("refresh grants for 50 requests: got %d (%d refused), want 1 refused", got, s.RefreshNo)
	}
	c := e.stored(t)
	if c.Status != tokens.StatusNeedsReauth {
		t.Errorf("connection status %q, want %q", c.Status, tokens.StatusNeedsReauth)
	}
	if c.Credential.RefreshToken != tok.RefreshToken {
		t.Error("the marked connection lost its refresh token")
	}

	// No retry storm: the marked connection never reaches the token endpoint.
	check("later", e.fanOut(50, "tasks", 10*time.Second))
	if got := as.stats().Refreshes; got != s.Refreshes {
		t.Errorf("refresh grants after the connection was marked: got %d more, want 0", got-s.Refreshes)
	}
	as.assertNoReuse(t)
}

// fosite rejects an access token the connection still takes for valid: the
// proxy refreshes once and replays once, body included; when the API rejects
// the new token too, that second 401 goes to the caller.
func TestUpstream401RefreshesOnceAndReplaysOnce(t *testing.T) {
	as := newAuthServer(t)
	tok := as.seed(t, time.Hour)
	e := newProxyEnv(t, as, tok, proxyOptions{})
	as.dropAccessToken(t, tok.AccessToken)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	const payload = `{"title":"write the e2e tests"}`
	r := e.do(ctx, http.MethodPost, "tasks", payload)
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("status %d, err %v, body %s; want 200", r.status, r.err, r.body)
	}
	s := as.stats()
	if s.Refreshes != 1 || s.RefreshOK != 1 {
		t.Errorf("refresh grants: got %d (%d answered), want 1", s.Refreshes, s.RefreshOK)
	}
	if calls, rejected := as.apiCalls.Load(), as.api401.Load(); calls != 2 || rejected != 1 {
		t.Errorf("API calls %d (%d answered 401), want 2: the rejected one and one replay", calls, rejected)
	}
	as.apiBodies.Lock()
	got := append([]string(nil), as.apiPayload...)
	as.apiBodies.Unlock()
	if len(got) != 1 || got[0] != payload {
		t.Errorf("bodies the API accepted: %q, want the replayed %q once", got, payload)
	}
	c := e.stored(t)
	if c.Credential.AccessToken == tok.AccessToken || c.Credential.RefreshToken != s.lastIssued() {
		t.Error("the refreshed pair was not saved")
	}

	// The API now rejects every token: one refresh, one replay, and the
	// replay's 401 is the caller's answer.
	as.always401.Store(true)
	r = e.do(ctx, http.MethodPost, "tasks", payload)
	if r.err != nil || r.status != http.StatusUnauthorized {
		t.Fatalf("status %d, err %v, body %s; want 401", r.status, r.err, r.body)
	}
	if b := r.errorBody(t); !b.IsIntegrationError() || b.Status != http.StatusUnauthorized {
		t.Errorf("body %s, want the provider's 401 as an integration error", r.body)
	}
	s = as.stats()
	if s.Refreshes != 2 || s.RefreshOK != 2 {
		t.Errorf("refresh grants: got %d (%d answered), want 2: exactly one for the second request", s.Refreshes, s.RefreshOK)
	}
	if calls, rejected := as.apiCalls.Load(), as.api401.Load(); calls != 4 || rejected != 3 {
		t.Errorf("API calls %d (%d answered 401), want 4 (3): one call and one replay for the second request", calls, rejected)
	}
	c = e.stored(t)
	if !c.Active() || c.Credential.RefreshToken != s.lastIssued() {
		t.Errorf("after the second 401: status %q, rotated refresh token saved %v; want active and saved",
			c.Status, c.Credential.RefreshToken == s.lastIssued())
	}
	as.assertNoReuse(t)
}

// The token endpoint fails (5xx) or hangs: callers get a clear error within
// the refresh timeout, later callers are turned away by the cooldown without
// a token request, the stored refresh token is untouched, and the connection
// recovers once the endpoint does.
func TestTokenEndpointDownOrSlow(t *testing.T) {
	const (
		timeout  = time.Second
		cooldown = 2 * time.Second
	)
	cases := []struct {
		name   string
		fault  tokenFault
		status int
		code   response.Code
	}{
		// The 503 comes after a while, so that all concurrent callers join
		// the one refresh before it fails.
		{"down", tokenFault{status: http.StatusServiceUnavailable, delay: 500 * time.Millisecond}, http.StatusBadGateway, response.CodeRefreshFailed},
		{"slow", tokenFault{hang: true}, http.StatusGatewayTimeout, response.CodeRefreshTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			as := newAuthServer(t)
			tok := as.seed(t, -time.Hour)
			e := newProxyEnv(t, as, tok, proxyOptions{Timeout: timeout, Cooldown: cooldown, AuthStyle: "header"})
			as.setFault(&tc.fault)

			start := time.Now()
			rs := e.fanOut(20, "tasks", 10*time.Second)
			if took := time.Since(start); took > timeout+2*time.Second {
				t.Errorf("callers waited %v, want at most the refresh timeout %v (plus slack)", took, timeout)
			}
			for i, r := range rs {
				if r.err != nil || r.status != tc.status {
					t.Fatalf("request %d: status %d, err %v, body %s; want %d", i, r.status, r.err, r.body, tc.status)
				}
				if b := r.errorBody(t); b.Code != string(tc.code) || b.IsIntegrationError() {
					t.Fatalf("request %d: body %s, want code %s from the proxy", i, r.body, tc.code)
				}
			}
			if got := as.stats().Refreshes; got != 1 {
				t.Errorf("token endpoint calls for 20 concurrent requests: got %d, want 1", got)
			}

			// During the cooldown: 503 at once, no token request.
			for i, r := range e.fanOut(20, "tasks", 10*time.Second) {
				if r.err != nil || r.status != http.StatusServiceUnavailable {
					t.Fatalf("cooldown request %d: status %d, err %v, body %s; want 503", i, r.status, r.err, r.body)
				}
				b := r.errorBody(t)
				if b.Code != string(response.CodeRefreshCooldown) || b.Meta["retryAfterSeconds"] == nil {
					t.Fatalf("cooldown request %d: body %s, want %s with retryAfterSeconds", i, r.body, response.CodeRefreshCooldown)
				}
			}
			if got := as.stats().Refreshes; got != 1 {
				t.Errorf("token endpoint calls during the cooldown: got %d more, want 0", got-1)
			}

			// Nothing lost.
			c := e.stored(t)
			if !c.Active() || c.Credential.RefreshToken != tok.RefreshToken {
				t.Fatalf("after the failure: status %q, refresh token kept %v; want active and kept",
					c.Status, c.Credential.RefreshToken == tok.RefreshToken)
			}

			// The endpoint recovers; after the cooldown the connection does too.
			as.setFault(nil)
			time.Sleep(cooldown + 100*time.Millisecond)
			if r := e.get(t, "tasks"); r.status != http.StatusOK {
				t.Fatalf("after recovery: status %d %s, want 200", r.status, r.body)
			}
			s := as.stats()
			if s.Refreshes != 2 || s.RefreshOK != 1 || s.RefreshNo != 0 {
				t.Errorf("refresh grants: got %d (%d answered by fosite, %d refused), want 2 (1, 0)", s.Refreshes, s.RefreshOK, s.RefreshNo)
			}
			if got := e.stored(t).Credential.RefreshToken; got != s.lastIssued() {
				t.Error("stored refresh token is not the one fosite issued")
			}
			as.assertNoReuse(t)
		})
	}
}
