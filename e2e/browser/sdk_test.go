package browser

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// sdkRun is what sdk.cjs prints.
type sdkRun struct {
	OK            bool              `json:"ok"`
	Error         string            `json:"error"`
	Steps         []string          `json:"steps"`
	Checks        map[string]any    `json:"checks"`
	Events        []json.RawMessage `json:"events"`
	ConsoleErrors []string          `json:"consoleErrors"`
	Screenshots   []string          `json:"screenshots"`
}

// TestSDKAccountFunctionsInBrowser: the official SDK's browser bundle in a
// host app's page (http://127.0.0.1:H/app), every service URL pointed at the
// handler the app mounts at /api, TaskLab as the provider: connect() opens our
// portal in the SDK's iframe and the user connects; getUser, request,
// uninstallIntegration, setUserMetadata across a reload, the headless popup
// install and completeInstall; a foreign origin's message is ignored.
func TestSDKAccountFunctionsInBrowser(t *testing.T) {
	chromium, dir := browser(t)
	bundle, err := os.ReadFile(filepath.Join(dir, "..", "sdk", "node_modules", "@useparagon", "connect", "dist", "src", "index.js"))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the SDK bundle is missing (cd e2e/sdk && npm ci): %v", err)
		}
		t.Skipf("the SDK bundle is missing (cd e2e/sdk && npm ci): %v", err)
	}

	tl := onbehalftest.NewTaskLab("sdk-client", "sdk-secret")
	up := httptest.NewServer(tl)
	t.Cleanup(up.Close)
	base := onbehalftest.LocalhostURL(up.URL) + "/api"
	signer, err := onbehalftest.NewSigner("k1")
	if err != nil {
		t.Fatal(err)
	}

	// A foreign site (another site than the host's: localhost, not
	// 127.0.0.1) whose page, framed next to the SDK's iframe, posts a forged
	// UI_UPDATE into it.
	const forged = "forged-token"
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><body>foreign<script>
		  parent.frames[0].postMessage({messageType:'UI_UPDATE', nextContext:{projectId:'` + project + `',
		    user:{authenticated:true, token:'` + forged + `', integrations:{}}}, nextModalState:{integration:
		    {id:'x', type:'custom', name:'Forged', customIntegration:{slug:'custom.tasklab'}}}}, '*');
		</script></body>`))
	}))
	t.Cleanup(foreign.Close)

	// The host app: its page loads the SDK's bundle (CommonJS, wrapped), and
	// it mounts the handler under /api on its own origin (the handler serves
	// no CORS: a cross-origin mount needs the host's CORS layer in front).
	mux := http.NewServeMux()
	mux.HandleFunc("/sdk.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		_, _ = w.Write([]byte("var module={exports:{}};var exports=module.exports;\n"))
		_, _ = w.Write(bundle)
		_, _ = w.Write([]byte("\nwindow.Paragon=module.exports;\n"))
	})
	mux.HandleFunc("/app", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><html><head><title>Host app</title></head><body><h1>Host app</h1><script src="/sdk.js"></script></body></html>`))
	})
	srv := httptest.NewUnstartedServer(mux)
	origin := "http://" + srv.Listener.Addr().String()
	public := origin + "/api"
	projects := []middleware.ProjectConfig{{ID: project, Keys: []middleware.KeyConfig{signer.KeyConfig()}}}
	// KeyLab: TaskLab's API behind an API key the user types into the portal.
	keylab := onbehalftest.TaskLabIntegration(base, "", "")
	keylab.ID, keylab.Slug, keylab.Name = "keylab-id", "keylab", "KeyLab"
	keylab.Auth = integrations.SchemeConfig{Type: integrations.AuthAPIKey, Prefix: "Bearer "}
	apiKey, _ := tl.Issue(time.Hour)
	reg, err := integrations.NewStaticRegistry(map[string][]integrations.Config{project: {
		onbehalftest.TaskLabIntegration(base, "sdk-client", "sdk-secret"), keylab}})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := middleware.NewAuth(middleware.AuthConfig{Projects: projects})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(auth.Close)
	store := tokens.NewMemoryStore()
	ch, err := connect.New(connect.Config{Registry: reg, Store: store, Auth: auth, PublicURL: public,
		ReturnURLs:     map[string][]string{project: {origin + "/app"}},
		RevocationURLs: map[string]string{"custom.tasklab": up.URL + "/oauth/revoke"}})
	if err != nil {
		t.Fatal(err)
	}
	completeRedirect := origin + "/app/oauth"
	tl.RedirectURIs = []string{ch.RedirectURI(project), completeRedirect}
	h, err := middleware.New(middleware.Config{Prefix: "/api", Projects: projects, Registry: reg, Store: store, Connect: ch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	var forgedCalls atomic.Int64
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Authorization"), forged) {
			forgedCalls.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	srv.Start()
	t.Cleanup(srv.Close)

	// completeInstall's code: the host app's own authorization request (PKCE).
	vb := make([]byte, 32)
	_, _ = rand.Read(vb)
	verifier := base64.RawURLEncoding.EncodeToString(vb)
	sum := sha256.Sum256([]byte(verifier))
	authURL := up.URL + "/oauth/authorize?" + url.Values{"client_id": {"sdk-client"}, "redirect_uri": {completeRedirect},
		"state": {"host-state"}, "response_type": {"code"}, "scope": {"tasks.read"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}.Encode()
	back, err := onbehalftest.Consent(authURL, true)
	if err != nil {
		t.Fatal(err)
	}
	bu, _ := url.Parse(back)
	code := bu.Query().Get("code")
	if code == "" {
		t.Fatalf("no code from TaskLab: %s", back)
	}

	artifacts := filepath.Join(dir, "artifacts")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(map[string]any{"chromium": chromium, "hostUrl": origin + "/app", "base": public, "project": project,
		"token": signer.MustToken(project, "sdk-user"), "foreignUrl": onbehalftest.LocalhostURL(foreign.URL) + "/",
		"code": code, "redirectUrl": completeRedirect, "apiKey": apiKey, "verifier": verifier, "artifacts": artifacts})
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "sdk.cjs"), string(in))
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("sdk.cjs: %v\n%s", err, stderr.String())
	}
	var r sdkRun
	if err := json.Unmarshal(bytes.TrimSpace(outb), &r); err != nil {
		t.Fatalf("sdk.cjs printed %q: %v", outb, err)
	}
	for _, s := range r.Screenshots {
		t.Logf("screenshot: %s", s)
	}
	if !r.OK {
		t.Fatalf("browser run failed after %v: %s\nchecks %v\nevents %s\nconsole: %v", r.Steps, r.Error, r.Checks, r.Events, r.ConsoleErrors)
	}
	t.Logf("steps: %v", r.Steps)
	if n := forgedCalls.Load(); n != 0 {
		t.Errorf("the portal used a token posted from a foreign origin %d times", n)
	}
	for _, e := range r.ConsoleErrors {
		if strings.Contains(e, "Content Security Policy") || strings.Contains(e, "Refused") {
			t.Errorf("console: %s", e)
		}
	}
	// What is stored at the end: KeyLab's key and the completeInstall connection.
	conns, err := store.List(t.Context(), project, "sdk-user")
	if err != nil || len(conns) != 2 {
		t.Fatalf("stored at the end: %d connections (%v)", len(conns), err)
	}
	for _, c := range conns {
		if !c.Active() || c.Integration == "custom.keylab" && c.Credential.APIKey != apiKey {
			t.Errorf("stored %s: active %v", c.Integration, c.Active())
		}
	}
	if tl.Revocations() < 2 {
		t.Errorf("uninstalls revoked %d grants at TaskLab, want 2", tl.Revocations())
	}
}
