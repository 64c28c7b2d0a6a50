package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/onbehalf/onbehalf/onbehalftest"
)

const (
	writeKey = "test-write-key-0123456789"
	readKey  = "test-read-key-0123456789"
	project  = "proj-test"
	slugKey  = "custom.tasklab"
)

func sha(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// provider is a loopback fake of an OAuth2 provider: an API that wants
// "Bearer <current access token>", a token endpoint that rotates tokens
// (its answers can be delayed), a revocation endpoint and a verify route.
type provider struct {
	*httptest.Server
	mu       sync.Mutex
	access   string // the access token the API accepts
	issued   int
	revoked  []string
	slow     chan struct{} // when not nil, the token endpoint waits for it to close
	inToken  chan struct{} // signalled when a token request arrives
	apiCalls int
}

func newProvider(t testing.TB) *provider {
	p := &provider{access: "access-0", inToken: make(chan struct{}, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		ok := r.Header.Get("Authorization") == "Bearer "+p.access
		p.apiCalls++
		p.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_token"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"tasks":["a","b"],"path":"`+r.URL.Path+`"}`)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		select {
		case p.inToken <- struct{}{}:
		default:
		}
		p.mu.Lock()
		slow := p.slow
		p.mu.Unlock()
		if slow != nil {
			<-slow
		}
		_ = r.ParseForm()
		if r.PostForm.Get("grant_type") != "refresh_token" || !strings.HasPrefix(r.PostForm.Get("refresh_token"), "refresh-") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		p.mu.Lock()
		p.issued++
		p.access = "access-" + string(rune('0'+p.issued))
		tok := p.access
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600,
			"refresh_token": "refresh-" + tok})
	})
	mux.HandleFunc("/revoke", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		p.mu.Lock()
		p.revoked = append(p.revoked, r.PostForm.Get("token")+"@"+r.URL.Query().Get("region"))
		p.mu.Unlock()
	})
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Close)
	return p
}

func (p *provider) currentAccess() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.access
}

// testConfig returns a config for the provider with the given store
// section; secrets come from the returned environment.
func testConfig(t testing.TB, p *provider, signer *onbehalftest.Signer, store string) (string, map[string]string) {
	keyJSON, _ := json.Marshal(signer.KeyConfig())
	cfg := `{
  "publicUrl": "http://127.0.0.1:1",
  "projects": [{"id": "` + project + `", "keys": [` + string(keyJSON) + `], "integrations": [
    {"type": "custom", "slug": "tasklab", "baseUrl": "` + p.URL + `/api", "allowAddresses": ["127.0.0.0/8"],
     "auth": {"type": "oauth2", "tokenUrl": "` + p.URL + `/token", "revokeUrl": "` + p.URL + `/revoke?region={region}",
              "clientId": "cid", "clientSecret": {"env": "TASKLAB_SECRET"}},
     "verify": {"path": "/me"}},
    {"type": "custom", "slug": "unguarded", "baseUrl": "` + strings.Replace(p.URL, "127.0.0.1", "provider.test", 1) + `/api",
     "auth": {"type": "oauth2", "tokenUrl": "` + strings.Replace(p.URL, "127.0.0.1", "provider.test", 1) + `/token",
              "revokeUrl": "` + strings.Replace(p.URL, "127.0.0.1", "provider.test", 1) + `/revoke", "clientId": "cid"},
     "verify": {"path": "/me"}},
    {"type": "custom", "slug": "tenant", "baseUrl": "` + p.URL + `/api/{tenant}", "allowAddresses": ["127.0.0.0/8"],
     "auth": {"type": "api_key", "name": "X-Key"}},
    {"type": "custom", "slug": "keyed", "baseUrl": "` + p.URL + `/api", "allowAddresses": ["127.0.0.0/8"],
     "auth": {"type": "api_key", "name": "X-Key"}}
  ]}],
  "store": ` + store + `,
  "manage": {"apiKeys": [{"name": "backend", "sha256": "` + sha(writeKey) + `", "scope": "write"},
                         {"name": "dashboard", "sha256": "` + sha(readKey) + `", "scope": "read"}]}
}`
	return cfg, map[string]string{"TASKLAB_SECRET": "client-secret-value", "SEAL_K1": sealKey}
}

// testServer is the server in process over a memory store.
type testServer struct {
	*server
	URL    string
	p      *provider
	signer *onbehalftest.Signer
	logs   *bytes.Buffer
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	p := newProvider(t)
	signer, err := onbehalftest.NewSigner("k1")
	if err != nil {
		t.Fatal(err)
	}
	cfg, e := testConfig(t, p, signer, `{"type": "memory", "sealing": {"current": "k1", "keys": {"k1": {"env": "SEAL_K1"}}}}`)
	l, err := parseConfig([]byte(cfg), env(e))
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	s, err := newServer(t.Context(), l, slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.handler)
	t.Cleanup(func() { hs.Close(); s.proxy.Close(); s.connectAuth.Close() })
	return &testServer{server: s, URL: hs.URL, p: p, signer: signer, logs: logs}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// call sends a management or proxy request and returns the status and body.
func call(t testing.TB, method, url, auth, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// errCode returns the "code" of a JSON error body ("" when not one).
func errCode(b []byte) string {
	var e struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(b, &e)
	return e.Code
}

func bearer(k string) string { return "Bearer " + k }

func httptestServer(t *testing.T, h http.Handler) string {
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}
