package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestOversizedTokenGetsJSON431: a user token of 70 KiB (past the handler's
// 64 KiB header limit) gets the handler's JSON 431 with its stable code,
// not the http.Server's plain-text 431, from the server the demo and the
// standalone mode run.
func TestOversizedTokenGetsJSON431(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := newDemo(log)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = newHTTPServer(d.server.handler, log)
	srv.Start()
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/projects/demo-project/sdk/proxy/custom.tasklab/tasks", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("a", 70<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Code string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 431 || body.Code != "REQUEST_HEADERS_TOO_LARGE" {
		t.Fatalf("got %d %q (%v), want 431 REQUEST_HEADERS_TOO_LARGE as JSON", resp.StatusCode, body.Code, err)
	}
}
