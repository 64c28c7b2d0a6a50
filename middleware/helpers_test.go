package middleware_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// recorder is a loopback upstream that records every request it receives and
// answers with a handler the test chooses.
type recorder struct {
	srv   *httptest.Server
	base  string // http://localhost:PORT
	mu    sync.Mutex
	reqs  []*recorded
	count atomic.Int64
	reply http.HandlerFunc
}

type recorded struct {
	Method, Path, RawPath, Query, Host string
	Header                             http.Header
	Body                               string
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{reply: func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, &recorded{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(),
			Query: r.URL.RawQuery, Host: r.Host, Header: r.Header.Clone(), Body: string(b)})
		reply := rec.reply
		rec.mu.Unlock()
		rec.count.Add(1)
		reply(w, r)
	}))
	t.Cleanup(rec.srv.Close)
	rec.base = onbehalftest.LocalhostURL(rec.srv.URL)
	return rec
}

func (rec *recorder) setReply(h http.HandlerFunc) {
	rec.mu.Lock()
	rec.reply = h
	rec.mu.Unlock()
}

func (rec *recorder) last(t *testing.T) *recorded {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatal("the upstream received no request")
	}
	return rec.reqs[len(rec.reqs)-1]
}

// localIntegration is an integration on the recorder, allowed to reach loopback.
func localIntegration(rec *recorder, typ string, auth integrations.SchemeConfig) integrations.Config {
	return integrations.Config{
		Type: typ, BaseURL: rec.base + "/base", AllowedSchemes: []string{"http"},
		AllowedPorts: []int{portOf(rec.base)}, AllowAddresses: []string{"127.0.0.0/8", "::1/128"}, Auth: auth,
	}
}

func portOf(base string) int {
	i := strings.LastIndexByte(base, ':')
	n := 0
	for _, c := range base[i+1:] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// envWith starts an Env whose project also has the given integrations.
func envWith(t *testing.T, extra []integrations.Config, configure ...func(*middleware.Config)) *onbehalftest.Env {
	return onbehalftest.NewEnv(t, onbehalftest.EnvOptions{Configure: func(c *middleware.Config) {
		c.Projects[0].Integrations = append(c.Projects[0].Integrations, extra...)
		for _, f := range configure {
			f(c)
		}
	}})
}

// connect stores a connection of the env's user.
func connect(t *testing.T, e *onbehalftest.Env, integration string, cred tokens.Credential, fields map[string]string) *tokens.Connection {
	t.Helper()
	c := &tokens.Connection{Project: e.Project, User: e.User, Integration: integration, Credential: cred, Fields: fields}
	if err := e.Store.Save(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

func str(s string) *string { return &s }

var hour = time.Hour
