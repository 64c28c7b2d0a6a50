package connect_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/connect"
)

// sdkCall is e.call with extra headers.
func (e *env) sdkCall(t *testing.T, method, user, path string, body any, header map[string]string, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	target := path
	if !strings.HasPrefix(path, "http") {
		target = e.srv.URL + "/projects/" + project + "/sdk" + path
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+e.token(user))
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func wantError(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("got %d %s, want %d %s", resp.StatusCode, b, status, code)
	}
	if b := errorBody(t, resp); b.Code != code {
		t.Fatalf("got code %q, want %q", b.Code, code)
	}
}

// popup plays the SDK's popup install up to the provider's consent page:
// build-oauth (as user), oauth-nonce (with nonceUser's token in the URL, as
// the SDK sends it), oauth-go. It returns oauth-go's answer.
func (e *env) popup(t *testing.T, user, nonceUser, session string) *http.Response {
	t.Helper()
	q := url.Values{"action": {"custom.tasklab"}, "integrationId": {"custom.tasklab"}, "oauthMetaKeyId": {session},
		"installOptions": {`{"isApiInstallation":true}`}, "userToken": {e.token(user)}}
	resp := e.sdkCall(t, http.MethodGet, user, e.srv.URL+"/v2/projects/"+project+"/sdk/actions/build-oauth?"+q.Encode(), nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("build-oauth: %d", resp.StatusCode)
	}
	next := decode(t, resp)["redirectUrl"].(string)
	nq := url.Values{"action": {"custom.tasklab"}, "originForPostMessage": {"https://app.example.com"}, "userToken": {e.token(nonceUser)}}
	nonce := e.sdkCall(t, http.MethodGet, "", "/actions/oauth-nonce?"+nq.Encode(), nil, nil)
	if nonce.StatusCode != http.StatusOK || len(nonce.Cookies()) != 1 {
		t.Fatalf("oauth-nonce: %d, %d cookies", nonce.StatusCode, len(nonce.Cookies()))
	}
	page, _ := io.ReadAll(nonce.Body)
	if strings.Contains(string(page), e.token(nonceUser)) || !strings.Contains(string(page), `"https://app.example.com"`) {
		t.Fatalf("oauth-nonce page holds the token or lacks the opener origin:\n%s", page)
	}
	return e.sdkCall(t, http.MethodGet, "", next, nil, nil, nonce.Cookies()...)
}

// TestSDKPopupInstall: the SDK's headless install end to end, and the
// session poll's checks: only the user who started it sees the outcome.
func TestSDKPopupInstall(t *testing.T) {
	e := newEnv(t)
	goResp := e.popup(t, "alice", "alice", "s3ss10n")
	if goResp.StatusCode != http.StatusSeeOther {
		t.Fatalf("oauth-go: %d", goResp.StatusCode)
	}
	poll := func(user string) map[string]any {
		resp := e.sdkCall(t, http.MethodGet, user, "/actions/session-id/s3ss10n", nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("poll: %d", resp.StatusCode)
		}
		return decode(t, resp)
	}
	if got := poll("alice"); len(got) != 0 {
		t.Fatalf("before consent the poll answered %v, want {}", got)
	}
	done := e.callback(t, consent(t, goResp.Header.Get("Location"), true), goResp.Cookies())
	if !strings.HasSuffix(done.Path, "/sdk/actions/oauth-done") {
		t.Fatalf("callback went to %s", done)
	}
	wantOutcome(t, done, connect.StatusConnected, "")
	got := poll("alice")
	id, _ := got["connectCredentialId"].(string)
	if c := e.stored(t, "alice"); c == nil || id != c.ID {
		t.Fatalf("poll answered %v, stored %v", got, c)
	}
	if again := poll("alice"); again["connectCredentialId"] != id {
		t.Fatalf("a second poll answered %v", again)
	}
	if other := poll("bob"); len(other) != 0 {
		t.Fatalf("bob's poll of alice's session answered %v, want {}", other)
	}
	cred := decode(t, e.sdkCall(t, http.MethodGet, "alice", "/credentials/"+id, nil, nil))
	if cred["id"] != id || cred["status"] != "VALID" || len(cred["configurations"].([]any)) != 1 {
		t.Fatalf("credential: %v", cred)
	}
	wantError(t, e.sdkCall(t, http.MethodGet, "bob", "/credentials/"+id, nil, nil), 404, "CREDENTIAL_NOT_FOUND")
	if resp := e.sdkCall(t, http.MethodDelete, "alice", "/actions/session-id/s3ss10n", nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if after := poll("alice"); len(after) != 0 {
		t.Fatalf("after delete the poll answered %v", after)
	}
}

// TestSDKPopupRefusals: the popup pages and build-oauth refuse what they must.
func TestSDKPopupRefusals(t *testing.T) {
	e := newEnv(t)
	// Defends against a link made for one user being completed in the
	// browser of another: oauth-go needs the nonce cookie of the same user.
	if resp := e.popup(t, "mallory", "alice", "s1"); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("oauth-go with another user's nonce: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp := e.sdkCall(t, http.MethodGet, "", "/actions/oauth-go?g=made-up", nil, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("oauth-go without a cookie: %d", resp.StatusCode)
	}
	// The opener's origin must be configured: the page never posts elsewhere.
	q := url.Values{"originForPostMessage": {"https://evil.example"}, "userToken": {e.token("alice")}}
	if resp := e.sdkCall(t, http.MethodGet, "", "/actions/oauth-nonce?"+q.Encode(), nil, nil); resp.StatusCode != http.StatusBadRequest || len(resp.Cookies()) != 0 {
		t.Fatalf("foreign opener origin: %d", resp.StatusCode)
	}
	q = url.Values{"originForPostMessage": {"https://app.example.com"}, "userToken": {"not-a-token"}}
	if resp := e.sdkCall(t, http.MethodGet, "", "/actions/oauth-nonce?"+q.Encode(), nil, nil); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("bad user token: %d", resp.StatusCode)
	}
	base := e.srv.URL + "/v2/projects/" + project + "/sdk/actions/build-oauth?"
	wantError(t, e.sdkCall(t, http.MethodGet, "", base+"integrationId=custom.tasklab&oauthMetaKeyId=a", nil, nil), 401, "AUTH_TOKEN_MISSING")
	wantError(t, e.sdkCall(t, http.MethodGet, "alice", base+"integrationId=custom.tasklab&oauthMetaKeyId=a%2Fb", nil, nil), 400, "BAD_REQUEST")
	wantError(t, e.sdkCall(t, http.MethodGet, "alice", base+"integrationId=stripe&oauthMetaKeyId=a", nil, nil), 400, "CONNECT_UNSUPPORTED")
	wantError(t, e.sdkCall(t, http.MethodGet, "alice", base+"integrationId=nope&oauthMetaKeyId=a", nil, nil), 404, "INTEGRATION_NOT_FOUND")
	wantError(t, e.sdkCall(t, http.MethodGet, "", "/actions/session-id/a", nil, nil), 401, "AUTH_TOKEN_MISSING")
	wantError(t, e.sdkCall(t, http.MethodGet, "alice", "/actions/session-id/a%20b", nil, nil), 400, "BAD_REQUEST")
	wantError(t, e.sdkCall(t, http.MethodPost, "alice", "/actions/session-id/a", nil, nil), 405, "METHOD_NOT_ALLOWED")
}

// TestCompleteInstall: a code the host app obtained (with PKCE) is exchanged
// and saved; bad input answers stable codes.
func TestCompleteInstall(t *testing.T) {
	e := newEnv(t)
	redirect := "https://app.example.com/settings/oauth"
	e.tl.RedirectURIs = append(e.tl.RedirectURIs, redirect)
	verifier := oauth2.GenerateVerifier()
	authURL := e.up.URL + "/oauth/authorize?" + url.Values{"client_id": {"tl-client"}, "redirect_uri": {redirect}, "state": {"st"},
		"response_type": {"code"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}.Encode()
	back, err := url.Parse(consent(t, authURL, true))
	if err != nil || back.Query().Get("code") == "" {
		t.Fatalf("no code: %v %v", back, err)
	}
	code := back.Query().Get("code")
	body := func(c, integration, redirectURL string) map[string]any {
		return map[string]any{"code": c, "integrationId": integration, "redirectUrl": redirectURL,
			"integrationOptions": map[string]any{"codeVerifier": verifier}}
	}
	wantError(t, e.sdkCall(t, http.MethodPost, "", "/credentials", body(code, "custom.tasklab", redirect), nil), 401, "AUTH_TOKEN_MISSING")
	wantError(t, e.sdkCall(t, http.MethodPost, "carol", "/credentials", body("", "custom.tasklab", redirect), nil), 400, "BAD_REQUEST")
	wantError(t, e.sdkCall(t, http.MethodPost, "carol", "/credentials", body(code, "stripe", redirect), nil), 400, "CONNECT_UNSUPPORTED")
	wantError(t, e.sdkCall(t, http.MethodPost, "carol", "/credentials", body(code, "custom.tasklab", "https://evil.example/cb"), nil), 400, "CONNECT_RETURN_URL_NOT_ALLOWED")
	wantError(t, e.sdkCall(t, http.MethodPost, "carol", "/credentials", body("wrong-code", "custom.tasklab", redirect), nil), 400, "CONNECT_EXCHANGE_FAILED")
	resp := e.sdkCall(t, http.MethodPost, "carol", "/credentials", body(code, "custom.tasklab", redirect), nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("completeInstall: %d", resp.StatusCode)
	}
	got := decode(t, resp)
	c := e.stored(t, "carol")
	if c == nil || got["id"] != c.ID || got["status"] != "VALID" || c.Credential.AccessToken == "" {
		t.Fatalf("answer %v, stored %v", got, c)
	}
	if strings.Contains(mustJSON(t, got), c.Credential.AccessToken) {
		t.Fatal("the answer holds the access token")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAccountRead: getIntegrationAccount never returns the stored credential
// unless the host app turned it on for the integration.
func TestAccountRead(t *testing.T) {
	for _, allow := range []bool{false, true} {
		e := newEnv(t, func(c *connect.Config) {
			if allow {
				c.AccountAuth = map[string]bool{"custom.tasklab": true}
			}
		})
		e.connectUser(t, "dave")
		access := e.stored(t, "dave").Credential.AccessToken
		resp := e.sdkCall(t, http.MethodGet, "dave", "/credentials?integration=custom.tasklab&includeAccountAuth=undefined", nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("account: %d", resp.StatusCode)
		}
		plain, _ := io.ReadAll(resp.Body)
		if strings.Contains(string(plain), access) || strings.Contains(string(plain), "accountAuth") {
			t.Fatalf("account without includeAccountAuth holds the credential: %s", plain)
		}
		resp = e.sdkCall(t, http.MethodGet, "dave", "/credentials?integration=custom.tasklab&includeAccountAuth=true", nil, nil)
		if !allow {
			wantError(t, resp, 403, "ACCOUNT_AUTH_NOT_ALLOWED")
			continue
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("account with auth: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		got := decode(t, resp)
		if auth, _ := got["accountAuth"].(map[string]any); auth["accessToken"] != access {
			t.Fatalf("accountAuth: %v", got["accountAuth"])
		}
	}
	e := newEnv(t)
	e.connectUser(t, "dave")
	wantError(t, e.sdkCall(t, http.MethodGet, "erin", "/credentials?integration=custom.tasklab", nil, nil), 400, "INTEGRATION_NOT_ENABLED")
	wantError(t, e.sdkCall(t, http.MethodGet, "dave", "/credentials", nil, nil), 400, "BAD_REQUEST")
	wantError(t, e.sdkCall(t, http.MethodGet, "dave", "/credentials?integration=nope", nil, nil), 404, "INTEGRATION_NOT_FOUND")
	wantError(t, e.sdkCall(t, http.MethodGet, "dave", "/credentials?integration=custom.tasklab", nil,
		map[string]string{"X-Paragon-Credential": "other"}), 404, "CREDENTIAL_NOT_FOUND")
	wantError(t, e.sdkCall(t, http.MethodGet, "", "/credentials?integration=custom.tasklab", nil, nil), 401, "AUTH_TOKEN_MISSING")
	wantError(t, e.sdkCall(t, http.MethodPut, "dave", "/credentials", nil, nil), 405, "METHOD_NOT_ALLOWED")
}

// TestUninstallRoute: DELETE /sdk/integrations/{id} is the disconnect route:
// it revokes at the provider and deletes the chosen connection.
func TestUninstallRoute(t *testing.T) {
	e := newEnv(t)
	e.connectUser(t, "fay")
	id := e.stored(t, "fay").ID
	wantError(t, e.sdkCall(t, http.MethodDelete, "gus", "/integrations/custom.tasklab", nil,
		map[string]string{"X-Paragon-Credential": id}), 404, "CREDENTIAL_NOT_FOUND")
	wantError(t, e.sdkCall(t, http.MethodDelete, "fay", "/integrations/nope", nil, nil), 404, "INTEGRATION_NOT_FOUND")
	resp := e.sdkCall(t, http.MethodDelete, "fay", "/integrations/custom.tasklab", nil, map[string]string{"X-Paragon-Credential": id})
	if resp.StatusCode != http.StatusNoContent || e.stored(t, "fay") != nil || e.tl.Revocations() != 1 {
		t.Fatalf("uninstall: %d, stored %v, revocations %d", resp.StatusCode, e.stored(t, "fay"), e.tl.Revocations())
	}
}

// TestSDKPortalPage: the SDK's iframe page lists each project's allowed
// origins, may be framed only by them, and sets no secret.
func TestSDKPortalPage(t *testing.T) {
	e := newEnv(t)
	get := func(path string) (*http.Response, string) {
		resp := e.sdkCall(t, http.MethodGet, "", e.srv.URL+path, nil, nil)
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, path := range []string{"/ui", "/ui?projectId=" + project} {
		resp, page := get(path)
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || !strings.Contains(csp, "frame-ancestors 'self' https://app.example.com") ||
			!strings.Contains(page, `{"origins":{"`+project+`":["https://app.example.com"]}}`) {
			t.Fatalf("%s: %d csp %q\n%s", path, resp.StatusCode, csp, page)
		}
	}
	resp, page := get("/ui?projectId=unknown")
	if resp.StatusCode != 200 || !strings.Contains(page, `{"origins":{}}`) || strings.Contains(resp.Header.Get("Content-Security-Policy"), "app.example.com") {
		t.Fatalf("unknown project: %d %s", resp.StatusCode, page)
	}
	wantError(t, e.sdkCall(t, http.MethodPost, "", e.srv.URL+"/ui", nil, nil), 405, "METHOD_NOT_ALLOWED")
}
