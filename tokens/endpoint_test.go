package tokens

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Secrets used by the tests; no error text may contain any of them.
var testSecrets = []string{"access-", "refresh-", "client-secret", "body-secret"}

// assertNoSecret fails when err's text holds a test secret.
func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, form := range []string{err.Error(), fmt.Sprintf("%v|%+v|%#v|%s", err, err, err, err)} {
		for _, s := range testSecrets {
			if strings.Contains(form, s) {
				t.Errorf("error text holds a secret (%q): %s", s, form)
			}
		}
	}
}

// tokenEndpoint is an httptest OAuth2 token endpoint. By default it answers
// a refresh_token grant with access-N and refresh-N for the N-th call.
type tokenEndpoint struct {
	*httptest.Server
	calls atomic.Int64
	mu    sync.Mutex
	// answer, when set, answers instead of the default; n counts calls from 1.
	answer func(w http.ResponseWriter, r *http.Request, n int64)
	// lastRefresh is the refresh_token of the last request.
	lastRefresh string
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	t.Helper()
	e := &tokenEndpoint{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := e.calls.Add(1)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		e.mu.Lock()
		e.lastRefresh = r.PostForm.Get("refresh_token")
		answer := e.answer
		e.mu.Unlock()
		if answer != nil {
			answer(w, r, n)
			return
		}
		writeToken(w, fmt.Sprintf("access-%d", n), fmt.Sprintf("refresh-%d", n), time.Hour)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *tokenEndpoint) setAnswer(f func(w http.ResponseWriter, r *http.Request, n int64)) {
	e.mu.Lock()
	e.answer = f
	e.mu.Unlock()
}

func (e *tokenEndpoint) last() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastRefresh
}

func writeToken(w http.ResponseWriter, access, refresh string, life time.Duration) {
	body := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": int(life.Seconds())}
	if refresh != "" {
		body["refresh_token"] = refresh
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// writeOAuthError answers an RFC 6749 error whose description and extra
// field hold secrets, which must never reach an error text.
func writeOAuthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"error": code, "error_description": "body-secret refresh-0 was rejected", "echo": "access-0",
	})
}

func (e *tokenEndpoint) config() *oauth2.Config {
	return &oauth2.Config{
		ClientID: "client", ClientSecret: "client-secret",
		// An explicit style: auto-detection would retry a failure once.
		Endpoint: oauth2.Endpoint{TokenURL: e.URL, AuthStyle: oauth2.AuthStyleInHeader},
	}
}
