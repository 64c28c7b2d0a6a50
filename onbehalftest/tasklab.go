package onbehalftest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TaskLab is a small fake provider: a JSON task API under /api, one binary
// file, an echo endpoint that reports what arrived, and an OAuth2
// authorization server: a consent page at /oauth/authorize (authorization
// code with PKCE S256 only), a token endpoint at /oauth/token (authorization
// code and refresh-token grants; refresh tokens rotate) and an RFC 7009
// revocation endpoint at /oauth/revoke. The demo uses it as its built-in
// provider and tests use it as an upstream.
type TaskLab struct {
	ClientID     string
	ClientSecret string
	// TokenTTL is the lifetime of issued access tokens; zero means one hour.
	TokenTTL time.Duration
	// RedirectURIs are the redirect URIs the authorization endpoint accepts,
	// compared exactly. Set them before serving.
	RedirectURIs []string
	// TokenExtra are further fields of authorization-code token answers
	// (such as "instance_url"). Set them before serving.
	TokenExtra map[string]any

	mux *http.ServeMux

	mu      sync.Mutex
	access  map[string]time.Time // access token → expiry
	refresh map[string]bool      // live refresh tokens
	tasks   map[int]Task
	nextID  int

	codes map[string]authCode // one-time authorization codes

	refreshes   atomic.Int64
	apiCalls    atomic.Int64
	exchanges   atomic.Int64 // authorization codes redeemed with a verified PKCE verifier
	revocations atomic.Int64
}

// Task is one TaskLab task.
type Task struct {
	ID    int    `json:"id"`
	Title string `json:"title"`
	Done  bool   `json:"done"`
}

// ReportPDF is the binary file TaskLab serves at /api/files/report.pdf.
var ReportPDF = append([]byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"), []byte("1 0 obj <<>> endobj\n\x00\x01\x02\xff trailer\n%%EOF\n")...)

// NewTaskLab returns a TaskLab with two tasks and the given client
// credentials for its token endpoint.
func NewTaskLab(clientID, clientSecret string) *TaskLab {
	tl := &TaskLab{ClientID: clientID, ClientSecret: clientSecret,
		access: map[string]time.Time{}, refresh: map[string]bool{}, codes: map[string]authCode{},
		tasks: map[int]Task{1: {1, "Write the proxy", true}, 2: {2, "Ship the demo", false}}, nextID: 3}
	m := http.NewServeMux()
	m.HandleFunc("POST /oauth/token", tl.token)
	m.HandleFunc("GET /oauth/authorize", tl.authorize)
	m.HandleFunc("POST /oauth/authorize", tl.decide)
	m.HandleFunc("POST /oauth/revoke", tl.revoke)
	m.HandleFunc("GET /api/tasks", tl.auth(tl.listTasks))
	m.HandleFunc("POST /api/tasks", tl.auth(tl.createTask))
	m.HandleFunc("GET /api/tasks/{id}", tl.auth(tl.getTask))
	m.HandleFunc("GET /api/files/report.pdf", tl.auth(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Length", strconv.Itoa(len(ReportPDF)))
		_, _ = w.Write(ReportPDF)
	}))
	m.HandleFunc("/api/echo", tl.auth(echo))
	m.HandleFunc("/api/echo/", tl.auth(echo))
	tl.mux = m
	return tl
}

// ServeHTTP implements http.Handler.
func (tl *TaskLab) ServeHTTP(w http.ResponseWriter, r *http.Request) { tl.mux.ServeHTTP(w, r) }

// Refreshes counts refresh-token grants served.
func (tl *TaskLab) Refreshes() int64 { return tl.refreshes.Load() }

// APICalls counts authorized API calls served.
func (tl *TaskLab) APICalls() int64 { return tl.apiCalls.Load() }

// Issue creates a live access token (valid for ttl; negative means already
// expired) and refresh token, for seeding connections.
func (tl *TaskLab) Issue(ttl time.Duration) (access, refresh string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	access, refresh = "tl-at-"+randHex(), "tl-rt-"+randHex()
	tl.access[access] = time.Now().Add(ttl)
	tl.refresh[refresh] = true
	return access, refresh
}

// Revoke kills an access token, as a provider does when a user revokes access.
func (tl *TaskLab) Revoke(access string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	delete(tl.access, access)
}

func randHex() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (tl *TaskLab) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != tl.ClientID || secret != tl.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	switch r.PostFormValue("grant_type") {
	case "refresh_token":
	case "authorization_code":
		tl.redeem(w, r)
		return
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	tl.refreshes.Add(1)
	rt := r.PostFormValue("refresh_token")
	tl.mu.Lock()
	live := tl.refresh[rt]
	delete(tl.refresh, rt) // rotation: a refresh token works once
	tl.mu.Unlock()
	if !live {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "refresh token is invalid or was used"})
		return
	}
	ttl := tl.TokenTTL
	if ttl == 0 {
		ttl = time.Hour
	}
	access, refresh := tl.Issue(ttl)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer",
		"refresh_token": refresh, "expires_in": int(ttl.Seconds())})
}

func (tl *TaskLab) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tl.mu.Lock()
		exp, live := tl.access[tok]
		tl.mu.Unlock()
		if !ok || !live || time.Now().After(exp) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "invalid or expired access token"})
			return
		}
		tl.apiCalls.Add(1)
		next(w, r)
	}
}

func (tl *TaskLab) listTasks(w http.ResponseWriter, _ *http.Request) {
	tl.mu.Lock()
	list := make([]Task, 0, len(tl.tasks))
	for _, t := range tl.tasks {
		list = append(list, t)
	}
	tl.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	writeJSON(w, http.StatusOK, map[string]any{"tasks": list})
}

func (tl *TaskLab) createTask(w http.ResponseWriter, r *http.Request) {
	var t Task
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&t); err != nil || t.Title == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "title is required"})
		return
	}
	tl.mu.Lock()
	t.ID = tl.nextID
	tl.nextID++
	tl.tasks[t.ID] = t
	tl.mu.Unlock()
	writeJSON(w, http.StatusCreated, t)
}

func (tl *TaskLab) getTask(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.Atoi(r.PathValue("id"))
	tl.mu.Lock()
	t, ok := tl.tasks[id]
	tl.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": fmt.Sprintf("task %d not found", id)})
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// Echo is what /api/echo answers: the request as TaskLab saw it.
type Echo struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	RawPath string              `json:"rawPath"`
	Query   string              `json:"query"`
	Header  map[string][]string `json:"header"`
	Body    string              `json:"body"`
}

func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	writeJSON(w, http.StatusOK, Echo{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(),
		Query: r.URL.RawQuery, Header: r.Header, Body: string(body)})
}
