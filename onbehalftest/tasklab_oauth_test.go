package onbehalftest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestTaskLabAuthorizationCode: the consent page checks the request, and the
// token endpoint redeems a code once, only with the PKCE verifier and the
// same redirect URI.
func TestTaskLabAuthorizationCode(t *testing.T) {
	tl := NewTaskLab("c", "s")
	srv := httptest.NewServer(tl)
	defer srv.Close()
	redirect := "https://app.example.com/cb"
	tl.RedirectURIs = []string{redirect}
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	authURL := func(mod func(url.Values)) string {
		q := url.Values{"client_id": {"c"}, "redirect_uri": {redirect}, "response_type": {"code"}, "state": {"st"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "scope": {"tasks.read"}}
		if mod != nil {
			mod(q)
		}
		return srv.URL + "/oauth/authorize?" + q.Encode()
	}

	// Refused requests: a bad client or redirect URI gets a page, never a redirect.
	for name, mod := range map[string]func(url.Values){
		"client":     func(q url.Values) { q.Set("client_id", "x") },
		"redirect":   func(q url.Values) { q.Set("redirect_uri", "https://evil.example.com/cb") },
		"redirect+":  func(q url.Values) { q.Set("redirect_uri", redirect+"/more") },
		"no PKCE":    func(q url.Values) { q.Del("code_challenge") },
		"plain PKCE": func(q url.Values) { q.Set("code_challenge_method", "plain") },
		"token flow": func(q url.Values) { q.Set("response_type", "token") },
	} {
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(authURL(mod))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		switch name {
		case "client", "redirect", "redirect+":
			if resp.StatusCode != 400 || loc != "" {
				t.Errorf("%s: %d %q, want 400 without redirect", name, resp.StatusCode, loc)
			}
		default:
			if resp.StatusCode != 303 || !strings.HasPrefix(loc, redirect+"?") || !strings.Contains(loc, "error=") {
				t.Errorf("%s: %d %q, want an error redirect", name, resp.StatusCode, loc)
			}
		}
	}

	loc, err := Consent(authURL(nil), false)
	if err != nil || !strings.Contains(loc, "error=access_denied") || !strings.Contains(loc, "state=st") {
		t.Fatalf("deny: %q %v", loc, err)
	}
	code := func() string {
		loc, err := Consent(authURL(nil), true)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(loc)
		if u.Query().Get("state") != "st" || u.Query().Get("code") == "" {
			t.Fatalf("approve: %s", loc)
		}
		return u.Query().Get("code")
	}
	redeem := func(code, verifier, redirectURI string) (int, map[string]any) {
		resp, err := http.PostForm(srv.URL+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"code_verifier": {verifier}, "redirect_uri": {redirectURI}, "client_id": {"c"}, "client_secret": {"s"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if st, _ := redeem(code(), "", redirect); st != 400 {
		t.Errorf("no verifier: %d", st)
	}
	if st, _ := redeem(code(), strings.Repeat("w", 50), redirect); st != 400 {
		t.Errorf("wrong verifier: %d", st)
	}
	if st, _ := redeem(code(), verifier, redirect+"x"); st != 400 {
		t.Errorf("other redirect URI: %d", st)
	}
	c := code()
	st, out := redeem(c, verifier, redirect)
	if st != 200 || out["access_token"] == nil || out["refresh_token"] == nil {
		t.Fatalf("redeem: %d %v", st, out)
	}
	if st, _ := redeem(c, verifier, redirect); st != 400 {
		t.Errorf("a code redeemed twice: %d", st)
	}
	if tl.Exchanges() != 1 {
		t.Errorf("exchanges %d", tl.Exchanges())
	}
	// The refresh grant still works with the issued refresh token.
	resp, err := http.PostForm(srv.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {out["refresh_token"].(string)}, "client_id": {"c"}, "client_secret": {"s"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("refresh: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
}
