package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDemoBanner runs the demo's server and every curl command its banner
// prints, checking what each answers.
func TestDemoBanner(t *testing.T) {
	d, err := newDemo(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	srv := httptest.NewServer(d.server.handler)
	defer srv.Close()
	var out bytes.Buffer
	d.printBanner(&out, srv.URL)
	banner := out.String()
	token := regexp.MustCompile(`(?m)^TOKEN=(\S+)$`).FindStringSubmatch(banner)
	if token == nil || !regexp.MustCompile(`(?m)^PROJECT=demo-project$`).MatchString(banner) {
		t.Fatalf("banner lacks PROJECT= or TOKEN= lines:\n%s", banner)
	}
	curls := regexp.MustCompile(`(?m)^curl .*$`).FindAllString(banner, -1)
	if len(curls) != 5 {
		t.Fatalf("%d curl commands, want 5", len(curls))
	}
	want := []struct {
		status int
		body   string
	}{
		{200, `{"output":{"tasks":[`},
		{201, `{"output":{"id":3,"title":"Try onbehalf"`},
		{200, "%PDF-1.4"},
		{200, `{"output":{"id":1,`},
		{403, `"This domain is invalid for the current integration"`},
	}
	for i, c := range curls {
		req := curlRequest(t, c, token[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want[i].status || !strings.Contains(string(body), want[i].body) {
			t.Errorf("%s\n→ %d %.120q, want %d containing %q", c, resp.StatusCode, body, want[i].status, want[i].body)
		}
	}
}

// curlRequest turns one of the banner's curl lines into a request.
func curlRequest(t *testing.T, line, token string) *http.Request {
	t.Helper()
	line = strings.ReplaceAll(line, "$TOKEN", token)
	url := line[strings.LastIndex(line, " ")+1:]
	method, body := "GET", ""
	if m := regexp.MustCompile(`-d '([^']*)'`).FindStringSubmatch(line); m != nil {
		method, body = "POST", m[1]
	}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range regexp.MustCompile(`-H ['"]([^'"]*)['"]`).FindAllStringSubmatch(line, -1) {
		k, v, _ := strings.Cut(h[1], ": ")
		req.Header.Set(k, v)
	}
	return req
}

// TestConfigSample: the shipped sample loads, and -check says so.
func TestConfigSample(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-config", "config.example.json", "-check"}, &out, io.Discard); err != nil || out.String() != "config OK\n" {
		t.Fatalf("check: %v %q", err, out.String())
	}
	out.Reset()
	if err := run([]string{"-config", "config.example.json", "-print-token", "-key", "config.example.key.pem", "-user", "user-42"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig("config.example.json")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newConfigServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	// The minted token opens the bootstrap route of the sample's project.
	req := httptest.NewRequest("GET", "/projects/acme-prod/sdk/me", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(out.String()))
	rec := httptest.NewRecorder()
	srv.handler.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"slack":{"enabled":true`) {
		t.Fatalf("me: %d %s", rec.Code, rec.Body.String())
	}
}

// TestConfigProblems: -check names each problem by its JSON path.
func TestConfigProblems(t *testing.T) {
	cases := []struct{ name, json, want string }{
		{"syntax", "{\n  \"projects\": [\n", "unexpected end of JSON"},
		{"unknown field", `{"projects":[], "nope": 1}`, `unknown field "nope"`},
		{"wrong type", `{"projects":[{"id": 5}]}`, "$.projects[0].id: expected string"},
		{"no project", `{"projects":[]}`, "$.projects: at least one project is required"},
		{"bad key", `{"projects":[{"id":"p","keys":[{"pem":"nope"}]}]}`, "$.projects[0].keys:"},
		{"bad integration", `{"projects":[{"id":"p","keys":[{"jwk":{"kty":"RSA","n":"sXch","e":"AQAB"}}],"integrations":[{"type":"x"}]}]}`, "$.projects[0].integrations[0]: integrations: integration \"x\": baseUrl is required"},
		{"bad host pattern", `{"projects":[{"id":"p","keys":[{"jwk":{"kty":"RSA","n":"sXch","e":"AQAB"}}],"integrations":[{"type":"x","baseUrl":"https://a.example.com","allowedHosts":["*.com"]}]}]}`, "$.projects[0].integrations[0]: integrations: integration \"x\": allowedHosts"},
		{"connection to nothing", `{"projects":[{"id":"p","keys":[{"jwk":{"kty":"RSA","n":"sXch","e":"AQAB"}}]}],"connections":[{"project":"p","user":"u","integration":"slack"}]}`, `$.connections[0].integration: project "p" has no integration "slack"`},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "c.json")
			if err := os.WriteFile(path, []byte(tc.json), 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := run([]string{"-config", path, "-check"}, &out, io.Discard)
			if err == nil || !strings.Contains(out.String()+err.Error(), tc.want) {
				t.Fatalf("got %v, output %q; want it to mention %q", err, out.String(), tc.want)
			}
		})
	}
}
