package upstream

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// salesforceSession is Salesforce's answer to a dead session, as its REST
// API documents it (errorCode INVALID_SESSION_ID, with 401).
const salesforceSession = `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`

// deadTokenEnv is a credential stage over fake answers, with a real
// Refresher whose token endpoint counts its calls.
type deadTokenEnv struct {
	ct         *credentialTransport
	f          *fakeRT
	state      *State
	tokenCalls *atomic.Int64
}

func newDeadTokenEnv(t *testing.T, dead []integrations.DeadToken, replies ...func(*http.Request) (*http.Response, error)) *deadTokenEnv {
	t.Helper()
	var calls atomic.Int64
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"fresh-at","refresh_token":"fresh-rt","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(tokenSrv.Close)
	in, err := integrations.New(integrations.Config{Type: "sf", BaseURL: "https://api.example.com", DeadTokens: dead, AllowAddresses: []string{"127.0.0.0/8"},
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2, TokenURL: tokenSrv.URL + "/token", ClientID: "cid", ClientSecret: "s", AuthStyle: "header"}})
	if err != nil {
		t.Fatal(err)
	}
	store := tokens.NewMemoryStore()
	c := &tokens.Connection{Project: "p", User: "u", Integration: "sf",
		Credential: tokens.Credential{AccessToken: "old-at", RefreshToken: "old-rt", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}}
	if err := store.Save(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRT{replies: replies}
	return &deadTokenEnv{ct: &credentialTransport{refresher: rf, next: f}, f: f,
		state: &State{Integration: in, Connection: c}, tokenCalls: &calls}
}

func (e *deadTokenEnv) post(t *testing.T, body string) (*http.Response, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(WithState(context.Background(), e.state), "POST", "https://api.example.com/x", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer old-at")
	return e.ct.RoundTrip(req)
}

func answer(code int, body string) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: code, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
	}
}

// freshOnly answers 200 to the refreshed token and dead otherwise.
func freshOnly(code int, body string) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		if req.Header.Get("Authorization") == "Bearer fresh-at" {
			return answer(200, `{"ok":true}`)(req)
		}
		return answer(code, body)(req)
	}
}

var sfDead = []integrations.DeadToken{{Status: 401, BodyContains: "INVALID_SESSION_ID"}, {Status: 403, BodyContains: "INVALID_SESSION_ID"}}

// A 403 whose body names a dead session is a dead token: one refresh, one
// replay with the fresh token and the same body.
func TestDeadTokenRefreshesAndReplays(t *testing.T) {
	for _, tc := range []struct {
		name string
		dead []integrations.DeadToken
		body string
	}{
		{"body match", sfDead, salesforceSession},
		{"status only", []integrations.DeadToken{{Status: 403}}, `{"anything":1}`},
		{"match past the first read", sfDead, strings.Repeat(" ", 6000) + salesforceSession},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newDeadTokenEnv(t, tc.dead, freshOnly(403, tc.body))
			resp, err := e.post(t, `{"n":1}`)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(b) != `{"ok":true}` {
				t.Fatalf("got %d %s, want the replay's 200", resp.StatusCode, b)
			}
			if n := e.tokenCalls.Load(); n != 1 {
				t.Errorf("token endpoint calls %d, want 1", n)
			}
			if n := e.f.calls.Load(); n != 2 || e.f.bodies[1] != `{"n":1}` {
				t.Errorf("upstream calls %d (bodies %q), want 2 with the body replayed", n, e.f.bodies)
			}
		})
	}
}

// An answer that is not a dead token (a 403 without the text, the text past
// the first 8 KiB, the text under another status) goes to the caller intact,
// body and length, without a refresh or a replay.
func TestDeadTokenNoMatchPassesThrough(t *testing.T) {
	long := `{"errorCode":"INSUFFICIENT_ACCESS","pad":"` + strings.Repeat("y", 20<<10) + `"}`
	late := strings.Repeat(" ", integrations.MaxPeek) + salesforceSession
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"403 other error", 403, `[{"errorCode":"INSUFFICIENT_ACCESS"}]`},
		{"403 long body", 403, long},
		{"403 text past 8 KiB", 403, late},
		{"400 with the text", 400, salesforceSession},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newDeadTokenEnv(t, sfDead, answer(tc.status, tc.body))
			resp, err := e.post(t, `{"n":1}`)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != tc.status || string(b) != tc.body || resp.ContentLength != int64(len(tc.body)) {
				t.Fatalf("got %d (%d bytes of %d, length %d, err %v), want the answer intact", resp.StatusCode, len(b), len(tc.body), resp.ContentLength, err)
			}
			if n := e.tokenCalls.Load(); n != 0 {
				t.Errorf("token endpoint calls %d, want 0", n)
			}
			if n := e.f.calls.Load(); n != 1 {
				t.Errorf("upstream calls %d, want 1", n)
			}
		})
	}
}

// A request whose body cannot be replayed is not refreshed on a dead-token
// answer, and its body is not read: the answer goes to the caller.
func TestDeadTokenNotReplayable(t *testing.T) {
	e := newDeadTokenEnv(t, sfDead, freshOnly(403, salesforceSession))
	req, _ := http.NewRequestWithContext(WithState(context.Background(), e.state), "POST", "https://api.example.com/x",
		io.NopCloser(strings.NewReader(`{"n":1}`)))
	resp, err := e.ct.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 403 || string(b) != salesforceSession || e.tokenCalls.Load() != 0 {
		t.Fatalf("got %d %s after %d token calls, want the 403 as is", resp.StatusCode, b, e.tokenCalls.Load())
	}
}
