package onbehalftest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/tokens"
)

// ProviderEnv is the onbehalf handler with the connect flow mounted and one
// integration served by a ProviderFake: a browser (a cookie jar) walks the
// connect flow, the SDK calls the proxy.
type ProviderEnv struct {
	Fake    *ProviderFake
	Project string // "proj-fake"
	User    string // "user-1"
	Signer  *Signer
	Store   *tokens.MemoryStore
	Connect *connect.Handler
	Handler *middleware.Handler
	Server  *httptest.Server
	// Events records what the connect flow told its EventSink.
	Events *RecordingSink
	// Browser follows no redirect and keeps cookies; it resolves the
	// fake's host names.
	Browser *http.Client
	// Key is the integration's key ("jira", "custom.x").
	Key string
}

// RecordingSink is a connect.EventSink and connect.FailureSink that records
// what it is told.
type RecordingSink struct {
	mu      sync.Mutex
	saved   []*tokens.Connection
	deleted []*tokens.Connection
	failed  []string
}

// ConnectionSaved implements connect.EventSink.
func (s *RecordingSink) ConnectionSaved(_ context.Context, c *tokens.Connection, _ bool, _ tokens.Status) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saved = append(s.saved, c.Clone())
	return nil
}

// ConnectionDeleted implements connect.EventSink.
func (s *RecordingSink) ConnectionDeleted(_ context.Context, c *tokens.Connection) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted = append(s.deleted, c.Clone())
	return nil
}

// ConnectFailed implements connect.FailureSink.
func (s *RecordingSink) ConnectFailed(_ context.Context, _, _, integration, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = append(s.failed, integration+":"+code)
	return nil
}

// Counts returns how many saves, deletes and failures were recorded, and the failures.
func (s *RecordingSink) Counts() (saved, deleted int, failed []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.saved), len(s.deleted), append([]string(nil), s.failed...)
}

// ReturnURL is the return URL the env's start calls name.
const ReturnURL = "https://app.example.com/settings"

// NewProviderEnv builds the env around fake; configure may change the
// connect config.
func NewProviderEnv(t testing.TB, fake *ProviderFake, configure ...func(*connect.Config)) *ProviderEnv {
	t.Helper()
	e := &ProviderEnv{Fake: fake, Project: "proj-fake", User: "user-1", Store: tokens.NewMemoryStore(), Events: &RecordingSink{}}
	var err error
	if e.Signer, err = NewSigner("k1"); err != nil {
		t.Fatal(err)
	}
	in, err := integrations.New(fake.Config)
	if err != nil {
		t.Fatalf("the entry pointed at the fake does not compile: %v", err)
	}
	e.Key = in.Key()
	reg, err := integrations.NewStaticRegistry(map[string][]integrations.Config{e.Project: {fake.Config}})
	if err != nil {
		t.Fatal(err)
	}
	projects := []middleware.ProjectConfig{{ID: e.Project, Keys: []middleware.KeyConfig{e.Signer.KeyConfig()}}}
	auth, err := middleware.NewAuth(middleware.AuthConfig{Projects: projects})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(auth.Close)
	e.Server = httptest.NewUnstartedServer(nil)
	public := "http://" + e.Server.Listener.Addr().String()
	fake.RedirectURI = public + "/projects/" + e.Project + "/sdk/connect/callback"
	cfg := connect.Config{Registry: reg, Store: e.Store, Auth: auth, PublicURL: public,
		ReturnURLs: map[string][]string{e.Project: {ReturnURL}},
		HTTPClient: fake.Resolver.Client(), Resolver: fake.Resolver.Resolver(), Events: e.Events}
	for _, f := range configure {
		f(&cfg)
	}
	if e.Connect, err = connect.New(cfg); err != nil {
		t.Fatal(err)
	}
	rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: e.Store, HTTPClient: fake.Resolver.Client()})
	if err != nil {
		t.Fatal(err)
	}
	mcfg := middleware.Config{Projects: projects, Registry: reg, Store: e.Store, Connect: e.Connect, Refresher: rf}
	mcfg.Forwarder.Transport.Resolver = fake.Resolver.Resolver()
	if e.Handler, err = middleware.New(mcfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Handler.Close)
	e.Server.Config.Handler = e.Handler
	e.Server.Start()
	t.Cleanup(e.Server.Close)
	jar, _ := cookiejar.New(nil)
	e.Browser = fake.Resolver.Client()
	e.Browser.Jar = jar
	e.Browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return e
}

// SDK sends a request with the user's token to a path under the project's
// /sdk (or to an absolute URL), through the browser client, and returns the
// answer's status and body.
func (e *ProviderEnv) SDK(t testing.TB, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	target := path
	if !strings.HasPrefix(path, "http") {
		target = e.Server.URL + "/projects/" + e.Project + "/sdk" + path
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.Signer.MustToken(e.Project, e.User))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.Browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Get is a browser GET that follows no redirect.
func (e *ProviderEnv) Get(t testing.TB, target string) *http.Response {
	t.Helper()
	resp, err := e.Browser.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

var (
	chooserState = regexp.MustCompile(`name="state" value="([^"]+)"`)
	chooserItem  = regexp.MustCompile(`name="item" value="(\d+)"`)
)

// ConnectResult is the outcome of a connect flow walked by ConnectFlow.
type ConnectResult struct {
	// Outcome is where the flow sent the browser at the end (the return
	// URL with onbehalf_status, error, credentialId).
	Outcome *url.URL
	// Chooser reports that a chooser page was shown (and Items offered).
	Chooser bool
	Items   int
}

// ConnectFlow walks the OAuth connect flow in the browser: start with
// inputs, the fake's authorization (consent at once), the callback, the
// chooser when one shows (choosing the fake's Choice), and returns the
// outcome. A start answered with an error fails t.
func (e *ProviderEnv) ConnectFlow(t testing.TB, inputs map[string]string) ConnectResult {
	t.Helper()
	status, b := e.SDK(t, http.MethodPost, "/connect/"+url.PathEscape(e.Key)+"/start", map[string]any{"returnUrl": ReturnURL, "inputs": inputs})
	if status != http.StatusOK {
		t.Fatalf("start: %d %s", status, b)
	}
	var st struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	resp := e.Get(t, st.URL)
	if resp.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorization: %d %s (violations %v)", resp.StatusCode, b, e.Fake.Violations())
	}
	resp = e.Get(t, resp.Header.Get("Location"))
	var res ConnectResult
	if resp.StatusCode == http.StatusOK {
		page, _ := io.ReadAll(resp.Body)
		m := chooserState.FindSubmatch(page)
		if m == nil {
			t.Fatalf("callback answered a page that is not the chooser: %s", page)
		}
		res.Chooser, res.Items = true, len(chooserItem.FindAllSubmatch(page, -1))
		form := url.Values{"state": {string(m[1])}, "item": {strconv.Itoa(e.Fake.Choice)}}
		r, err := e.Browser.PostForm(e.Server.URL+"/projects/"+e.Project+"/sdk/connect/choose", form)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		resp = r
	}
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d, want 303", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	res.Outcome = u
	return res
}

// Connection returns the user's default connection of the integration, nil when there is none.
func (e *ProviderEnv) Connection(t testing.TB) *tokens.Connection {
	t.Helper()
	c, err := e.Store.Get(context.Background(), tokens.Key{Project: e.Project, User: e.User, Integration: e.Key})
	if err != nil {
		return nil
	}
	return c
}
