package connect_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

const project = "proj-connect"

// env is the proxy with the connect handler mounted, TaskLab as the
// provider, and a clock the tests move.
type env struct {
	tl      *onbehalftest.TaskLab
	up      *httptest.Server
	store   *tokens.MemoryStore
	signer  *onbehalftest.Signer
	connect *connect.Handler
	srv     *httptest.Server

	mu  sync.Mutex
	now time.Time
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

// newEnv builds the env; configure may change the connect config.
func newEnv(t *testing.T, configure ...func(*connect.Config)) *env {
	t.Helper()
	e := &env{now: time.Now()}
	e.tl = onbehalftest.NewTaskLab("tl-client", "tl-secret")
	e.tl.TokenExtra = map[string]any{"instance_url": "https://eu1.tasklab.test", "workspace": "ws-42", "ignored": "x"}
	e.up = httptest.NewServer(e.tl)
	t.Cleanup(e.up.Close)
	base := onbehalftest.LocalhostURL(e.up.URL) + "/api"

	var err error
	if e.signer, err = onbehalftest.NewSigner("k1"); err != nil {
		t.Fatal(err)
	}
	projects := []middleware.ProjectConfig{{ID: project, Keys: []middleware.KeyConfig{e.signer.KeyConfig()}}}
	reg, err := integrations.NewStaticRegistry(map[string][]integrations.Config{project: {
		onbehalftest.TaskLabIntegration(base, "tl-client", "tl-secret"),
		{Type: "stripe", BaseURL: "https://api.stripe.com", Auth: integrations.SchemeConfig{Type: integrations.AuthAPIKey, Prefix: "Bearer "}},
		{Type: "jira", BaseURL: "https://jira.example.com", Auth: integrations.SchemeConfig{Type: integrations.AuthBasic}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := middleware.NewAuth(middleware.AuthConfig{Projects: projects})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(auth.Close)
	e.store = tokens.NewMemoryStore()

	e.srv = httptest.NewUnstartedServer(nil)
	public := "http://" + e.srv.Listener.Addr().String()
	e.tl.RedirectURIs = []string{public + "/projects/" + project + "/sdk/connect/callback"}
	cfg := connect.Config{Registry: reg, Store: e.store, Auth: auth, PublicURL: public,
		ReturnURLs:     map[string][]string{project: {"https://app.example.com/settings"}},
		CaptureFields:  map[string][]string{"custom.tasklab": {"workspace"}},
		RevocationURLs: map[string]string{"custom.tasklab": e.up.URL + "/oauth/revoke"},
		Now:            e.clock,
	}
	for _, f := range configure {
		f(&cfg)
	}
	if e.connect, err = connect.New(cfg); err != nil {
		t.Fatal(err)
	}
	h, err := middleware.New(middleware.Config{Projects: projects, Registry: reg, Store: e.store, Connect: e.connect})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	e.srv.Config.Handler = h
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) token(user string) string { return e.signer.MustToken(project, user) }

// call sends a request with user's token ("" for none) to a path under the
// project's /sdk, without following redirects.
func (e *env) call(t *testing.T, method, user, path string, body any, cookies ...*http.Cookie) *http.Response {
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

// started is the outcome of a start call.
type started struct {
	authURL string
	cookies []*http.Cookie // the browser-binding cookie
}

// start begins a connection for user and fails the test unless it answers 200.
func (e *env) start(t *testing.T, user string, body any) started {
	t.Helper()
	resp := e.call(t, http.MethodPost, user, "/connect/custom.tasklab/start", body)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("start: %d %s", resp.StatusCode, b)
	}
	var out struct {
		URL string `json:"url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return started{authURL: out.URL, cookies: resp.Cookies()}
}

// consent answers TaskLab's consent page and returns the callback URL.
func consent(t *testing.T, authURL string, approve bool) string {
	t.Helper()
	loc, err := onbehalftest.Consent(authURL, approve)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// callback delivers the provider's redirect to the callback and returns
// where it sends the browser.
func (e *env) callback(t *testing.T, callbackURL string, cookies []*http.Cookie) *url.URL {
	t.Helper()
	resp := e.call(t, http.MethodGet, "", callbackURL, nil, cookies...)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d, want 303", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// connectUser runs the whole flow with approval and returns the outcome URL.
func (e *env) connectUser(t *testing.T, user string) *url.URL {
	t.Helper()
	s := e.start(t, user, nil)
	return e.callback(t, consent(t, s.authURL, true), s.cookies)
}

func (e *env) stored(t *testing.T, user string) *tokens.Connection {
	t.Helper()
	c, err := e.store.Get(context.Background(), tokens.Key{Project: project, User: user, Integration: "custom.tasklab"})
	if errors.Is(err, tokens.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// errorBody decodes an error answer.
func errorBody(t *testing.T, resp *http.Response) response.Body {
	t.Helper()
	var b response.Body
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

func wantOutcome(t *testing.T, u *url.URL, status, errCode string) {
	t.Helper()
	q := u.Query()
	if q.Get("onbehalf_status") != status || q.Get("error") != errCode {
		t.Fatalf("outcome %s: got status %q error %q, want %q %q", u, q.Get("onbehalf_status"), q.Get("error"), status, errCode)
	}
}
