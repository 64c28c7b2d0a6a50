package middleware_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// Salesforce answers a dead session with 401 and errorCode
// INVALID_SESSION_ID in a JSON array of {message, errorCode}
// (https://developer.salesforce.com/docs/platform/connect-rest-api/guide/connect_error_responses,
// https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/meta_error_handling_session_exp.htm,
// checked 2026-12-02); the 403 variant stands for providers that answer a
// dead token with 403 and a code.
const invalidSession = `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`

// TestSecurityDeadTokenSignatures: an answer an integration declares as a
// dead token (status plus a body text) is handled like a 401 through the
// whole chain: one refresh, one replay (body included), the replay's 200 to
// the caller. An answer of the same status without the text is the
// provider's own: passed on byte for byte, with no token-endpoint call and
// no replay (a refresh token is not burnt, a POST is not sent twice).
func TestSecurityDeadTokenSignatures(t *testing.T) {
	rec := newRecorder(t)
	var tokenCalls atomic.Int64
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := tokenCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":"fresh-at-%d","refresh_token":"fresh-rt-%d","token_type":"Bearer","expires_in":3600}`, n, n)
	}))
	t.Cleanup(tokenSrv.Close)
	in := localIntegration(rec, "sfl", integrations.SchemeConfig{Type: integrations.AuthOAuth2,
		TokenURL: tokenSrv.URL + "/token", ClientID: "cid", ClientSecret: "secret", AuthStyle: "header"})
	in.DeadTokens = []integrations.DeadToken{{Status: 401, BodyContains: "INVALID_SESSION_ID"}, {Status: 403, BodyContains: "INVALID_SESSION_ID"}}
	e := envWith(t, []integrations.Config{in})
	connect(t, e, "sfl", tokens.Credential{AccessToken: "old-at", RefreshToken: "old-rt", TokenType: "Bearer",
		Expiry: time.Now().Add(time.Hour)}, nil)

	stale := "Bearer old-at"
	for _, status := range []int{403, 401} {
		rec.count.Store(0)
		before := tokenCalls.Load()
		rec.setReply(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != stale {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"ok":true}`)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, invalidSession)
		})
		resp := e.Do(t, "POST", e.ProxyURL("sfl", "sobjects/Account"), str(`{"Name":"Acme"}`), http.Header{"Content-Type": {"application/json"}})
		body := readBody(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok":true`) {
			t.Fatalf("%d INVALID_SESSION_ID: got %d %s, want the replay's 200", status, resp.StatusCode, body)
		}
		if n := tokenCalls.Load() - before; n != 1 {
			t.Fatalf("%d INVALID_SESSION_ID: %d token-endpoint calls, want 1", status, n)
		}
		if n := rec.count.Load(); n != 2 {
			t.Fatalf("%d INVALID_SESSION_ID: the provider got %d calls, want 2 (the call and one replay)", status, n)
		}
		last := rec.last(t)
		if last.Body != `{"Name":"Acme"}` || last.Header.Get("Authorization") == stale {
			t.Fatalf("the replay: body %q, stale token %v; want the caller's body with the fresh token", last.Body, last.Header.Get("Authorization") == stale)
		}
		stale = last.Header.Get("Authorization") // the next round's dead token
	}

	// The same status without the text: the provider's answer, intact.
	const denied = `[{"message":"insufficient access rights on object id","errorCode":"INSUFFICIENT_ACCESS_OR_READONLY"}]`
	rec.count.Store(0)
	before := tokenCalls.Load()
	rec.setReply(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(403)
		_, _ = io.WriteString(w, denied)
	})
	req := http.Header{"Content-Type": {"application/json"}, response.RawHeader: {"1"}}
	resp := e.Do(t, "POST", e.ProxyURL("sfl", "sobjects/Account"), str(`{"Name":"Acme"}`), req)
	body := readBody(t, resp)
	if resp.StatusCode != 403 || string(body) != denied {
		t.Fatalf("a 403 without the text: got %d %q, want the provider's 403 body as is", resp.StatusCode, body)
	}
	if n := tokenCalls.Load() - before; n != 0 {
		t.Fatalf("a 403 without the text made %d token-endpoint calls, want 0", n)
	}
	if n := rec.count.Load(); n != 1 {
		t.Fatalf("a 403 without the text reached the provider %d times, want 1 (no replay)", n)
	}
}
