package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

const (
	demoProject = "demo-project"
	demoUser    = "demo-user"
)

// demo is the built-in setup: TaskLab on loopback, one connected user whose
// access token has already expired (so the first call shows a refresh), and a
// fresh signing key.
type demo struct {
	server   *server
	token    string
	tasklab  string // TaskLab's API base, http://localhost:PORT/api
	upstream *http.Server
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
	h, err := middleware.New(middleware.Config{
		Projects: []middleware.ProjectConfig{{ID: demoProject, Keys: []middleware.KeyConfig{signer.KeyConfig()},
			Integrations: []middleware.IntegrationConfig{onbehalftest.TaskLabIntegration(base, "demo-client", "demo-secret")}}},
		Store:     store,
		Refresher: refresher,
		Forwarder: middleware.ForwarderConfig{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
	})
	if err != nil {
		return nil, err
	}
	token, err := signer.Token(demoProject, demoUser, onbehalftest.TokenOptions{TTL: 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	return &demo{server: &server{handler: h, close: h.Close}, token: token, tasklab: base, upstream: up}, nil
}

func (d *demo) close() { _ = d.upstream.Close() }

func (d *demo) printBanner(w io.Writer, base string) {
	proxy := base + "/projects/" + demoProject + "/sdk/proxy/custom.tasklab"
	fmt.Fprintf(w, "onbehalf demo: proxy on %s, TaskLab (fake provider) on %s\n", base, d.tasklab)
	fmt.Fprintf(w, "PROJECT=%s\n", demoProject)
	fmt.Fprintf(w, "TOKEN=%s\n", d.token)
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
	fmt.Fprintln(w)
}
