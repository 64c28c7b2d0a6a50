package browser

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/onbehalftest"
)

// server is one run of the cmd/onbehalf binary.
type server struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs strings.Builder
	done chan error
}

// startServer runs bin with the config and waits for its listening line.
func startServer(t *testing.T, bin, cfg string, env []string) *server {
	t.Helper()
	s := &server{cmd: exec.Command(bin, "-config", cfg), done: make(chan error, 1)}
	s.cmd.Env = append(os.Environ(), env...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.logs.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if strings.Contains(sc.Text(), `"msg":"onbehalf listening"`) {
				listening <- struct{}{}
			}
		}
		s.done <- s.cmd.Wait()
	}()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	select {
	case <-listening:
	case err := <-s.done:
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Fatalf("the server exited: %v\n%s", err, s.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not listen within 60s")
	}
	return s
}

func (s *server) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// freeAddr returns a loopback address with a port free a moment ago: the
// public URL, and so the OAuth redirect URI, must be known before start.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServerPortalInBrowser: the production server (cmd/onbehalf, built
// here) over Redis; a user connects TaskLab through the server's portal in
// Chromium, a second user's tokens are imported through the management
// API; after a restart both connections are there and both users' proxied
// calls work.
func TestServerPortalInBrowser(t *testing.T) {
	chromium, dir := browser(t)
	if c, err := net.DialTimeout("tcp", "127.0.0.1:6379", 2*time.Second); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis is not reachable: %v", err)
		}
		t.Skipf("Redis is not reachable: %v", err)
	} else {
		c.Close()
	}
	bin := filepath.Join(t.TempDir(), "onbehalf")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join(dir, "..", "..", "cmd", "onbehalf")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/onbehalf: %v\n%s", err, out)
	}

	tl := onbehalftest.NewTaskLab("demo-client", "demo-secret")
	up := httptest.NewServer(tl)
	t.Cleanup(up.Close)
	signer, err := onbehalftest.NewSigner("k1")
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	public := "http://" + addr
	tl.RedirectURIs = []string{public + "/projects/" + project + "/sdk/connect/callback"}
	in := onbehalftest.TaskLabIntegration(up.URL+"/api", "demo-client", "")
	inJSON, _ := json.Marshal(in)
	inJSON = []byte(strings.Replace(string(inJSON), `"clientId":"demo-client"`, `"clientId":"demo-client","clientSecret":{"env":"TASKLAB_SECRET"}`, 1))
	keyJSON, _ := json.Marshal(signer.KeyConfig())
	apiKey := "e2e-browser-write-key"
	prefix := fmt.Sprintf("onbehalf-browser-%d:", time.Now().UnixNano())
	cfg := fmt.Sprintf(`{"listen": %q, "publicUrl": %q, "logLevel": "debug",
  "projects": [{"id": %q, "keys": [%s], "integrations": [%s]}],
  "store": {"type": "redis", "redis": {"addr": "127.0.0.1:6379", "prefix": %q}},
  "manage": {"apiKeys": [{"name": "e2e", "sha256": %q, "scope": "write"}]}}`,
		addr, public, project, keyJSON, inJSON, prefix, sha256Hex(apiKey))
	cfgPath := filepath.Join(t.TempDir(), "onbehalf.json")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"TASKLAB_SECRET=demo-secret"}
	srv := startServer(t, bin, cfgPath, env)

	manage := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, public+"/manage/v1/projects/"+project+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	proxy := func(user string) (int, string) {
		req, _ := http.NewRequest("GET", public+"/projects/"+project+"/sdk/proxy/custom.tasklab/tasks", nil)
		req.Header.Set("Authorization", "Bearer "+signer.MustToken(project, user))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// The portal, in the browser, served by the binary.
	s := &setup{tl: tl, signer: signer, portalURL: public + "/projects/" + project + "/sdk/portal"}
	r := s.drive(t, chromium, dir, "portal-user", "server-portal", true)
	if !strings.Contains(r.Status, "TaskLab is connected.") {
		t.Fatalf("after approve: status %q, row %q", r.Status, r.RowAfter)
	}
	// A second user moved over from another platform: tokens imported.
	access, refresh := tl.Issue(time.Hour) // tokens TaskLab honours, obtained outside this server
	st, b := manage("POST", "/users/imported-user/connections",
		fmt.Sprintf(`{"integration": "custom.tasklab", "credential": {"accessToken": %q, "refreshToken": %q, "expiresAt": %q}}`,
			access, refresh, time.Now().Add(time.Hour).UTC().Format(time.RFC3339)))
	if st != 201 {
		t.Fatalf("import: %d %s", st, b)
	}

	srv.stop(t)
	startServer(t, bin, cfgPath, env)
	for _, u := range []string{"portal-user", "imported-user"} {
		if st, b := manage("GET", "/users/"+u+"/connections", ""); st != 200 || !strings.Contains(b, `"integration":"custom.tasklab"`) {
			t.Fatalf("%s after restart: %d %s", u, st, b)
		}
		if st, b := proxy(u); st != 200 || !strings.Contains(b, `"Write the proxy"`) {
			t.Fatalf("%s proxied after restart: %d %s", u, st, b)
		}
	}
	// Delete both (the portal's connection is revoked at TaskLab), which
	// leaves nothing under the Redis prefix.
	for _, u := range []string{"portal-user", "imported-user"} {
		_, b := manage("GET", "/users/"+u+"/connections", "")
		var page struct {
			Connections []struct{ Integration, ID string }
		}
		_ = json.Unmarshal([]byte(b), &page)
		for _, c := range page.Connections {
			if st, b := manage("DELETE", "/users/"+u+"/connections/"+c.Integration+"/"+c.ID, ""); st != 200 {
				t.Errorf("delete %s: %d %s", u, st, b)
			}
		}
	}
}
