// Package browser drives the Connect Portal in a real browser: Debian's
// Chromium, headless, through the npm package playwright-core (portal.cjs).
// The Go test serves the proxy with the connect handler and TaskLab, lets the
// browser connect an account through TaskLab's consent page, and then proxies
// a request with that user's token.
//
// It is a separate module so that the core module's tests need no browser.
//
// Setup, once per machine: apt-get install chromium; cd e2e/browser && npm ci.
// Without chromium, node or node_modules the test skips, except with CI=true,
// where it fails. ONBEHALF_CHROMIUM overrides /usr/bin/chromium. Screenshots
// go to e2e/browser/artifacts/ (gitignored); the connected portal is also
// copied to docs/portal.png for the README.
package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

const project = "demo-project"

// setup is the demo's shape: TaskLab on loopback, the proxy with the connect
// routes, users that are not connected yet.
type setup struct {
	tl     *onbehalftest.TaskLab
	store  *tokens.MemoryStore
	signer *onbehalftest.Signer
	ch     *connect.Handler
	srv    *httptest.Server
	// portalURL, when set, is the portal to drive instead of ch's (the
	// production server's, in server_test.go).
	portalURL string
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	s := &setup{tl: onbehalftest.NewTaskLab("demo-client", "demo-secret"), store: tokens.NewMemoryStore()}
	up := httptest.NewServer(s.tl)
	t.Cleanup(up.Close)
	base := onbehalftest.LocalhostURL(up.URL) + "/api"
	var err error
	if s.signer, err = onbehalftest.NewSigner("k1"); err != nil {
		t.Fatal(err)
	}
	projects := []middleware.ProjectConfig{{ID: project, Keys: []middleware.KeyConfig{s.signer.KeyConfig()}}}
	reg, err := integrations.NewStaticRegistry(map[string][]integrations.Config{
		project: {onbehalftest.TaskLabIntegration(base, "demo-client", "demo-secret")}})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := middleware.NewAuth(middleware.AuthConfig{Projects: projects})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(auth.Close)
	s.srv = httptest.NewUnstartedServer(nil)
	public := "http://" + s.srv.Listener.Addr().String()
	if s.ch, err = connect.New(connect.Config{Registry: reg, Store: s.store, Auth: auth, PublicURL: public,
		RevocationURLs: map[string]string{"custom.tasklab": up.URL + "/oauth/revoke"}}); err != nil {
		t.Fatal(err)
	}
	s.tl.RedirectURIs = []string{s.ch.RedirectURI(project)}
	h, err := middleware.New(middleware.Config{Projects: projects, Registry: reg, Store: s.store, Connect: s.ch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	s.srv.Config.Handler = h
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

// run is what portal.cjs prints.
type run struct {
	OK             bool     `json:"ok"`
	Error          string   `json:"error"`
	Steps          []string `json:"steps"`
	URLAfterLoad   string   `json:"urlAfterLoad"`
	RowBefore      string   `json:"rowBefore"`
	RowAfter       string   `json:"rowAfter"`
	Status         string   `json:"status"`
	ConnectFocused bool     `json:"connectFocused"`
	ConsoleErrors  []string `json:"consoleErrors"`
	Screenshots    []string `json:"screenshots"`
}

// browser returns chromium's path and this folder, or skips (fails in CI).
func browser(t *testing.T) (chromium, dir string) {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	chromium = os.Getenv("ONBEHALF_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	var missing string
	if _, err := os.Stat(chromium); err != nil {
		missing = chromium + " (apt-get install chromium)"
	} else if _, err := exec.LookPath("node"); err != nil {
		missing = "node"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		missing = "node_modules (cd e2e/browser && npm ci)"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser test needs %s", missing)
		}
		t.Skipf("browser test needs %s", missing)
	}
	return chromium, dir
}

func (s *setup) drive(t *testing.T, chromium, dir, user, name string, approve bool) run {
	t.Helper()
	artifacts := filepath.Join(dir, "artifacts")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	token := s.signer.MustToken(project, user)
	portal := s.portalURL
	if portal == "" {
		portal = s.ch.PortalURL(project)
	}
	in, _ := json.Marshal(map[string]any{"chromium": chromium, "portalUrl": portal + "#token=" + token,
		"approve": approve, "artifacts": artifacts, "name": name, "integration": "TaskLab"})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "portal.cjs"), string(in))
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("portal.cjs: %v\n%s", err, stderr.String())
	}
	var r run
	if err := json.Unmarshal(bytes.TrimSpace(outb), &r); err != nil {
		t.Fatalf("portal.cjs printed %q: %v", outb, err)
	}
	if !r.OK {
		t.Fatalf("browser run failed after %v: %s\nconsole: %v", r.Steps, r.Error, r.ConsoleErrors)
	}
	if strings.Contains(r.URLAfterLoad, "token") {
		t.Errorf("the token stayed in the address bar: %s", r.URLAfterLoad)
	}
	if len(r.ConsoleErrors) > 0 { // CSP violations show up here
		t.Errorf("console errors: %v", r.ConsoleErrors)
	}
	if !r.ConnectFocused {
		t.Error("the Connect button could not take keyboard focus")
	}
	if !strings.Contains(r.RowBefore, "Not connected") {
		t.Errorf("before: %q", r.RowBefore)
	}
	return r
}

// proxy calls TaskLab through the proxy with user's token.
func (s *setup) proxy(t *testing.T, user string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.srv.URL+"/projects/"+project+"/sdk/proxy/custom.tasklab/tasks", nil)
	req.Header.Set("Authorization", "Bearer "+s.signer.MustToken(project, user))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPortalConnectInBrowser: approve on TaskLab's consent page → the portal
// shows TaskLab connected → the proxy works for that user.
func TestPortalConnectInBrowser(t *testing.T) {
	chromium, dir := browser(t)
	s := newSetup(t)
	if st, _ := s.proxy(t, "browser-user"); st != 400 {
		t.Fatalf("before connecting: %d, want 400", st)
	}
	r := s.drive(t, chromium, dir, "browser-user", "portal-connected", true)
	if !strings.Contains(r.Status, "TaskLab is connected.") || !strings.Contains(r.RowAfter, "Connected") ||
		!strings.Contains(r.RowAfter, "Disconnect") {
		t.Fatalf("after approve: status %q, row %q", r.Status, r.RowAfter)
	}
	if s.tl.Exchanges() != 1 {
		t.Errorf("TaskLab PKCE exchanges: %d", s.tl.Exchanges())
	}
	st, body := s.proxy(t, "browser-user")
	if st != 200 || !strings.Contains(body, `"Write the proxy"`) {
		t.Fatalf("proxy with the connection made in the browser: %d %s", st, body)
	}
	// The README's screenshot.
	png, err := os.ReadFile(filepath.Join(dir, "artifacts", "portal-connected-after.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "..", "..", "docs"), 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "..", "..", "docs", "portal.png"), png, 0o644)
	}
}

// TestPortalDenyInBrowser: deny on the consent page → the portal shows the
// refusal, nothing is connected.
func TestPortalDenyInBrowser(t *testing.T) {
	chromium, dir := browser(t)
	s := newSetup(t)
	r := s.drive(t, chromium, dir, "browser-user-2", "portal-denied", false)
	if !strings.Contains(r.Status, "Access to TaskLab was not granted") || !strings.Contains(r.RowAfter, "Not connected") {
		t.Fatalf("after deny: status %q, row %q", r.Status, r.RowAfter)
	}
	if c, err := s.store.List(t.Context(), project, "browser-user-2"); err != nil || len(c) != 0 {
		t.Fatalf("deny stored %d connections (%v)", len(c), err)
	}
	if st, _ := s.proxy(t, "browser-user-2"); st != 400 {
		t.Fatalf("proxy after deny: %d, want 400", st)
	}
}
