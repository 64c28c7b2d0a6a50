package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/middleware/upstream"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

const (
	demoProject = "demo-project"
	demoUser    = "demo-user"
	demoUser2   = "demo-user-2" // not connected: connects through the portal
)

// demo is the built-in setup: TaskLab on loopback, one connected user whose
// access token has already expired (so the first call shows a refresh), a
// second user who is not connected and connects in the Connect Portal, and a
// fresh signing key.
type demo struct {
	server   *server
	token    string
	token2   string
	tasklab  string // TaskLab's API base, http://localhost:PORT/api
	upstream *http.Server

	tl         *onbehalftest.TaskLab
	connectCfg connect.Config
	// connect is built by mount once the listen address is known: the OAuth
	// redirect URI contains it.
	connect atomic.Pointer[connect.Handler]
}

func newDemo(log *slog.Logger) (*demo, error) {
	tl := onbehalftest.NewTaskLab("demo-client", "demo-secret")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	up := &http.Server{Handler: tl, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = up.Serve(ln) }()
	base := fmt.Sprintf("http://localhost:%d/api", ln.Addr().(*net.TCPAddr).Port)

	signer, err := onbehalftest.NewSigner("demo-key")
	if err != nil {
		return nil, err
	}
	store := tokens.NewMemoryStore()
	access, refresh := tl.Issue(-time.Minute) // expired: the first request refreshes it
	conn := &tokens.Connection{Project: demoProject, User: demoUser, Integration: "custom.tasklab",
		Credential: tokens.Credential{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", Expiry: time.Now().Add(-time.Minute)}}
	if err := store.Save(context.Background(), conn); err != nil {
		return nil, err
	}
	refresher, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store,
		OnRefresh: func(ev tokens.RefreshEvent) {
			log.Info("refreshed a connection's token", "connection", ev.Key.String(), "took", ev.Duration)
		},
		OnRefreshFailed: func(ev tokens.RefreshEvent, err error) {
			log.Warn("refresh failed", "connection", ev.Key.String(), "needsReauth", ev.NeedsReauth, "err", err)
		}})
	if err != nil {
		return nil, err
	}
	projects := []middleware.ProjectConfig{{ID: demoProject, Keys: []middleware.KeyConfig{signer.KeyConfig()}}}
	reg, err := integrations.NewStaticRegistry(map[string][]integrations.Config{
		demoProject: {onbehalftest.TaskLabIntegration(base, "demo-client", "demo-secret")}})
	if err != nil {
		return nil, err
	}
	auth, err := middleware.NewAuth(middleware.AuthConfig{Projects: projects})
	if err != nil {
		return nil, err
	}
	d := &demo{tasklab: base, upstream: up, tl: tl}
	d.connectCfg = connect.Config{Registry: reg, Store: store, Auth: auth,
		RevocationURLs: map[string]string{"custom.tasklab": strings.TrimSuffix(base, "/api") + "/oauth/revoke"},
		Logger:         log}
	h, err := middleware.New(middleware.Config{
		Projects:  projects,
		Registry:  reg,
		Store:     store,
		Observer:  &middleware.LogObserver{Logger: log},
		Refresher: refresher,
		Forwarder: upstream.Config{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
		Connect: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ch := d.connect.Load(); ch != nil {
				ch.ServeHTTP(w, r)
				return
			}
			http.Error(w, "the connect routes start with the server", http.StatusServiceUnavailable)
		}),
	})
	if err != nil {
		auth.Close()
		return nil, err
	}
	if d.token, err = signer.Token(demoProject, demoUser, onbehalftest.TokenOptions{TTL: 24 * time.Hour}); err != nil {
		return nil, err
	}
	if d.token2, err = signer.Token(demoProject, demoUser2, onbehalftest.TokenOptions{TTL: 24 * time.Hour}); err != nil {
		return nil, err
	}
	d.server = &server{handler: h, close: func() { h.Close(); auth.Close() }}
	return d, nil
}

// mount builds the connect handler for the public base URL the server
// answers on, and registers its redirect URI with TaskLab.
func (d *demo) mount(base string) error {
	cfg := d.connectCfg
	cfg.PublicURL = base
	ch, err := connect.New(cfg)
	if err != nil {
		return err
	}
	d.tl.RedirectURIs = []string{ch.RedirectURI(demoProject)}
	d.connect.Store(ch)
	return nil
}

func (d *demo) close() { _ = d.upstream.Close() }

// printBanner prints the banner for the server at base. It also mounts the
// connect routes for base (their OAuth redirect URI contains it).
func (d *demo) printBanner(w io.Writer, base string) {
	if err := d.mount(base); err != nil {
		fmt.Fprintf(w, "connect routes not mounted: %v\n", err)
	}
	proxy := base + "/projects/" + demoProject + "/sdk/proxy/custom.tasklab"
	fmt.Fprintf(w, "onbehalf demo: proxy on %s, TaskLab (fake provider) on %s\n", base, d.tasklab)
	fmt.Fprintf(w, "PROJECT=%s\n", demoProject)
	fmt.Fprintf(w, "TOKEN=%s\n", d.token)
	fmt.Fprintf(w, "TOKEN2=%s\n", d.token2)
	// The user token goes in the fragment: browsers never send it to a server.
	fmt.Fprintf(w, "PORTAL=%s/projects/%s/sdk/portal#token=%s\n", base, demoProject, d.token2)
	fmt.Fprintln(w, "\n# A JSON call (the stored access token has expired: this first call refreshes it):")
	fmt.Fprintf(w, "curl -s -H \"Authorization: Bearer $TOKEN\" %s/tasks\n", proxy)
	fmt.Fprintln(w, "\n# Create a task (POST with a JSON body):")
	fmt.Fprintf(w, "curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{\"title\":\"Try onbehalf\"}' %s/tasks\n", proxy)
	fmt.Fprintln(w, "\n# A raw binary download:")
	fmt.Fprintf(w, "curl -s -H \"Authorization: Bearer $TOKEN\" -H 'X-Paragon-Use-Raw-Response: 1' -o report.pdf %s/files/report.pdf\n", proxy)
	fmt.Fprintln(w, "\n# A fully-qualified URL on a permitted host:")
	fmt.Fprintf(w, "curl -s -H \"Authorization: Bearer $TOKEN\" %s/%s/tasks/1\n", proxy, d.tasklab)
	fmt.Fprintln(w, "\n# A refused host (answers 403 \"This domain is invalid for the current integration\"):")
	fmt.Fprintf(w, "curl -s -H \"Authorization: Bearer $TOKEN\" %s/https://evil.example.com/steal\n", proxy)
	fmt.Fprintf(w, "\n# Connect a second user (%s, not connected yet): open PORTAL in a browser, press Connect\n", demoUser2)
	fmt.Fprintln(w, "# on TaskLab, approve on TaskLab's consent page; then the proxy works for TOKEN2 too:")
	fmt.Fprintf(w, "#   curl -s -H \"Authorization: Bearer $TOKEN2\" %s/tasks\n", proxy)
	fmt.Fprintln(w)
}
