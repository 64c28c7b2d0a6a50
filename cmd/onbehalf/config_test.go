package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"strings"
	"testing"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

var sealKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

// TestExampleConfig: the shipped example passes -check once its
// environment variables are set.
func TestExampleConfig(t *testing.T) {
	e := map[string]string{"SLACK_CLIENT_SECRET": "s", "SALESFORCE_CLIENT_SECRET": "s",
		"DATABASE_URL": "postgres://x@127.0.0.1/db", "ONBEHALF_SEAL_KEY_2026_06": sealKey, "ONBEHALF_SEAL_KEY_2026_12": sealKey}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-check", "-config", "onbehalf.example.json"}, &out, &out, env(e)); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if out.String() != "config OK\n" {
		t.Fatalf("got %q", out.String())
	}
}

// TestCheckPrintsEveryProblem: -check names each problem by its JSON path,
// secrets given inline included, and never prints a secret's value.
func TestCheckPrintsEveryProblem(t *testing.T) {
	cfg := `{
  "listen": "nope",
  "publicUrl": "ftp://x/",
  "metricsListen": "127.0.0.1:1",
  "projects": [
    {"id": "p", "integrations": [
      {"type": "custom", "slug": "a", "baseUrl": "https://a.example.com",
       "auth": {"type": "oauth2", "tokenUrl": "https://a.example.com/t", "clientId": "c", "clientSecret": "INLINE-SECRET-VALUE"}},
      {"type": "custom", "slug": "b", "baseUrl": "https://b.example.com",
       "auth": {"type": "oauth2", "tokenUrl": "https://b.example.com/t", "clientId": "c", "clientSecret": {"env": "MISSING_SECRET"}}}
    ]},
    {"id": "p", "keys": [{"pem": "garbage"}, {"pem": "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"}]}
  ],
  "store": {"type": "redis", "redis": {"addr": "127.0.0.1:6379", "password": "INLINE-REDIS-PASSWORD"},
            "sealing": {"current": "k9", "keys": {"k1": "INLINE-KEY", "k2": {"env": "SHORT_KEY"}}}},
  "connect": {"returnUrls": {"ghost": ["https://x.example.com/"]}},
  "manage": {"apiKeys": [{"name": "a", "sha256": "zz", "scope": "admin"}, {"name": "a", "sha256": "` + strings.Repeat("ab", 32) + `", "scope": "read"}]}
}`
	path := t.TempDir() + "/c.json"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(t.Context(), []string{"-check", "-config", path}, &out, &out, env(map[string]string{"SHORT_KEY": "c2hvcnQ="}))
	if err == nil {
		t.Fatal("a bad config passed -check")
	}
	got := out.String()
	// The missing variable stops resolution first: the rest is checked once
	// every reference resolves.
	if !strings.Contains(got, "$.projects[0].integrations[1].auth.clientSecret: environment variable MISSING_SECRET is not set") {
		t.Fatalf("missing env var not reported:\n%s", got)
	}
	err = run(t.Context(), []string{"-check", "-config", path}, &out, &out, env(map[string]string{"SHORT_KEY": "c2hvcnQ=", "MISSING_SECRET": "v"}))
	if err == nil {
		t.Fatal("a bad config passed -check")
	}
	got = out.String()
	for _, want := range []string{
		"$.listen: not a host:port address",
		"$.publicUrl: must be an absolute http(s) URL",
		"$.projects[0].keys: a project needs keys or a jwksUrl",
		"$.projects[0].integrations[0].auth.clientSecret: a secret: give it as {\"env\": \"NAME\"}, not inline",
		"$.projects[1].id: project \"p\" defined twice",
		"$.projects[1].keys:",
		"$.projects[1].keys[1].pem: a private key",
		"$.store.redis.password: a secret: give it as {\"env\": \"NAME\"}",
		"$.store.sealing.current: must name one of keys",
		"$.store.sealing.keys.k1: a secret: give it as {\"env\": \"NAME\"}",
		"$.store.sealing.keys.k2: must be the base64 of 32 random bytes",
		"$.connect.returnUrls.ghost: no project \"ghost\"",
		"$.manage.apiKeys[0].sha256: must be the 64 hex digits",
		"$.manage.apiKeys[0].scope: must be \"read\" or \"write\"",
		"$.manage.apiKeys[1].name: name \"a\" used twice",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	for _, secret := range []string{"INLINE-SECRET-VALUE", "INLINE-REDIS-PASSWORD", "INLINE-KEY", "c2hvcnQ="} {
		if strings.Contains(got, secret) {
			t.Errorf("-check printed a secret value %q", secret)
		}
	}
}

// TestConfigSyntaxAndTypes: a syntax error is named by line and column, a
// type error and an unknown field by path or name.
func TestConfigSyntaxAndTypes(t *testing.T) {
	for _, tc := range []struct{ name, cfg, want string }{
		{"syntax", "{\n  \"listen\": \"x\",\n  oops\n}", "line 3, column"},
		{"eof", "{\"listen\": ", "end of file"},
		{"type", `{"projects": [{"id": 5}]}`, "$.projects[0].id: expected string"},
		{"unknown", `{"lisen": "x"}`, `unknown field "lisen"`},
		{"two values", `{} {}`, "more than one JSON value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.cfg), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestEnvReferenceResolved: a reference resolves to the variable's value,
// and only a one-key {"env"} object is a reference.
func TestEnvReferenceResolved(t *testing.T) {
	l, err := parseConfig([]byte(`{"publicUrl": "https://x.example.com",
  "projects": [{"id": "p", "jwksUrl": "https://x.example.com/jwks", "integrations": [
    {"type": "custom", "slug": "a", "baseUrl": "https://a.example.com",
     "auth": {"type": "oauth2", "tokenUrl": "https://a.example.com/t", "clientId": "c", "clientSecret": {"env": "A_SECRET"}}}]}],
  "store": {"type": "memory", "sealing": {"current": "k1", "keys": {"k1": {"env": "K1"}}}}}`),
		env(map[string]string{"A_SECRET": "the-secret", "K1": sealKey}))
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Projects[0].Integrations[0].Auth.ClientSecret; got != "the-secret" {
		t.Fatalf("clientSecret = %q", got)
	}
	if l.Store.Sealing.Keys["k1"] != sealKey {
		t.Fatal("sealing key not resolved")
	}
}
