// Package e2e drives the onbehalf handler through the official JavaScript SDK,
// @useparagon/connect@2.4.0, run by Node 20 + jsdom (sdk/sdk_client.cjs; see
// sdk/FINDINGS.md), and checks it mounted under the usual Go routers.
//
// It is a separate module so that the core module's go.mod carries neither
// chi nor anything else only these tests need.
//
// Setup, once per checkout: cd e2e/sdk && npm ci. Without node or
// sdk/node_modules the SDK tests skip, except with CI=true, where they fail.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/response"
)

// TaskLabID is the id of the TaskLab custom integration in onbehalftest.
const TaskLabID = onbehalftest.TaskLabID

// scenario is one paragon.request(integration, path, options) call.
type scenario struct {
	Name        string         `json:"name"`
	Integration string         `json:"integration"`
	Path        string         `json:"path"`
	Options     map[string]any `json:"options"`
}

// sdkError is how sdk_client.cjs describes a thrown error.
type sdkError struct {
	Message   string         `json:"message"`
	Name      string         `json:"name"`
	ClassName string         `json:"className"`
	Status    int            `json:"status"`
	Code      string         `json:"code"`
	Meta      map[string]any `json:"meta"`
	Response  map[string]any `json:"response"`
	Raw       string         `json:"raw"`
}

// sdkResult is the outcome of one scenario.
type sdkResult struct {
	Name               string          `json:"name"`
	OK                 bool            `json:"ok"`
	Type               string          `json:"type"`
	Value              json.RawMessage `json:"value"`
	Error              *sdkError       `json:"error"`
	AuthenticatedAfter bool            `json:"authenticatedAfter"`
}

// sdkRun is the one JSON line sdk_client.cjs prints.
type sdkRun struct {
	Authenticated       bool             `json:"authenticated"`
	AuthError           *sdkError        `json:"authError"`
	User                map[string]any   `json:"user"`
	IntegrationMetadata []map[string]any `json:"integrationMetadata"`
	Results             []sdkResult      `json:"results"`
	AuthenticatedAtEnd  bool             `json:"authenticatedAtEnd"`

	byName map[string]sdkResult // the results by scenario name
	raw    string               // the line as printed
}

// sdkDir returns the absolute path of e2e/sdk and makes sure node and the
// SDK are installed: it skips the test if not, or fails it when CI=true.
func sdkDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("sdk")
	if err != nil {
		t.Fatal(err)
	}
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not on PATH"
	} else {
		for _, m := range []string{"@useparagon/connect", "jsdom"} {
			if _, err := os.Stat(filepath.Join(dir, "node_modules", filepath.FromSlash(m), "package.json")); err != nil {
				missing = "e2e/sdk/node_modules/" + m + " is missing (run: cd e2e/sdk && npm ci)"
				break
			}
		}
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("SDK end-to-end test cannot run with CI=true: %s", missing)
		}
		t.Skipf("skipping the SDK end-to-end test: %s (with CI=true this fails instead)", missing)
	}
	return dir
}

// runSDK runs sdk_client.cjs against base and returns its result line.
func runSDK(t *testing.T, base, project, token string, scenarios []scenario) *sdkRun {
	t.Helper()
	dir := sdkDir(t)
	sc, err := json.Marshal(scenarios)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "sdk_client.cjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"ONBEHALF_BASE="+base,
		"ONBEHALF_PROJECT="+project,
		"ONBEHALF_TOKEN="+token,
		"ONBEHALF_SCENARIOS="+string(sc),
		"ONBEHALF_TIMEOUT_MS=20000",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node sdk_client.cjs: %v\nstdout: %s\nstderr: %s", err, stdout.Bytes(), stderr.Bytes())
	}
	line := strings.TrimSpace(stdout.String())
	var run sdkRun
	if err := json.Unmarshal([]byte(line), &run); err != nil {
		t.Fatalf("sdk_client.cjs printed no JSON line: %v\nstdout: %s\nstderr: %s", err, stdout.Bytes(), stderr.Bytes())
	}
	run.raw = line
	run.byName = map[string]sdkResult{}
	for _, r := range run.Results {
		run.byName[r.Name] = r
	}
	if len(run.Results) != len(scenarios) {
		t.Fatalf("got %d results for %d scenarios: %s", len(run.Results), len(scenarios), line)
	}
	t.Logf("sdk_client.cjs: %s", line)
	return &run
}

// result returns the named scenario's outcome, failing the test if it is
// missing or if its success differs from wantOK.
func (r *sdkRun) result(t *testing.T, name string, wantOK bool) sdkResult {
	t.Helper()
	res, ok := r.byName[name]
	if !ok {
		t.Fatalf("no result for scenario %q", name)
	}
	if res.OK != wantOK {
		if res.Error != nil {
			t.Fatalf("scenario %q: ok=%v, want %v; error: %+v", name, res.OK, wantOK, *res.Error)
		}
		t.Fatalf("scenario %q: ok=%v, want %v; value %s", name, res.OK, wantOK, res.Value)
	}
	if wantOK && res.Error != nil {
		t.Fatalf("scenario %q succeeded but carries an error: %+v", name, *res.Error)
	}
	if !wantOK && res.Error == nil {
		t.Fatalf("scenario %q failed without an error description", name)
	}
	return res
}

// wantValue checks that a successful scenario resolved to JSON equal to want.
func wantValue(t *testing.T, res sdkResult, wantType, want string) {
	t.Helper()
	if res.Type != wantType {
		t.Errorf("%s: typeof value = %q, want %q", res.Name, res.Type, wantType)
	}
	if !jsonEqual(t, res.Value, []byte(want)) {
		t.Errorf("%s: value = %s\nwant %s", res.Name, res.Value, want)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %q: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %q: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// wantError checks a failed scenario's ProxyRequestError.
func wantError(t *testing.T, res sdkResult, status int, code, message string) {
	t.Helper()
	e := res.Error
	if e.Status != status || e.Code != code || e.Message != message {
		t.Errorf("%s: error status=%d code=%q message=%q\nwant status=%d code=%q message=%q",
			res.Name, e.Status, e.Code, e.Message, status, code, message)
	}
	// ProxyRequestError (minified to "i"), with the JSON body as err.response.
	if e.ClassName != "i" || e.Name != "Error" || e.Raw != "Error: "+e.Message {
		t.Errorf("%s: error class=%q name=%q raw=%q, want the SDK's ProxyRequestError (class \"i\", name \"Error\")",
			res.Name, e.ClassName, e.Name, e.Raw)
	}
	if e.Response == nil || e.Response["status"] != float64(status) || e.Response["code"] != code {
		t.Errorf("%s: err.response = %v, want the JSON error body with status %d and code %q", res.Name, e.Response, status, code)
	}
	if !res.AuthenticatedAfter {
		t.Errorf("%s: the SDK signed the user out after this error", res.Name)
	}
}

// echoed decodes a TaskLab /api/echo answer.
func echoed(t *testing.T, res sdkResult) onbehalftest.Echo {
	t.Helper()
	var e onbehalftest.Echo
	if err := json.Unmarshal(res.Value, &e); err != nil {
		t.Fatalf("%s: value is not an echo: %s: %v", res.Name, res.Value, err)
	}
	return e
}

// checkUpstreamHeaders checks what reached TaskLab: the connection's bearer
// access token, and nothing of the SDK's own: no user token, no X-Paragon-*
// header, no "auto" content type, no cookie.
func checkUpstreamHeaders(t *testing.T, name string, e onbehalftest.Echo, env *onbehalftest.Env, userToken string) {
	t.Helper()
	// The upstream echoes what it received; the proxy redacts the
	// connection's access token from answers, so the echo shows the
	// credential as "Bearer [redacted]": it was applied, and did not come
	// back to the browser.
	if got, want := e.Header["Authorization"], []string{"Bearer " + response.Marker}; !reflect.DeepEqual(got, want) {
		t.Errorf("%s: upstream Authorization as echoed = %q, want %q (the connection's access token, redacted on the way back)", name, got, want)
	}
	if strings.Contains(fmt.Sprint(e.Header), env.Connection.Credential.AccessToken) {
		t.Errorf("%s: the connection's access token came back to the SDK", name)
	}
	for k, vs := range e.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-paragon-") {
			t.Errorf("%s: header %s: %q reached the upstream", name, k, vs)
		}
		if strings.EqualFold(k, "Cookie") {
			t.Errorf("%s: Cookie reached the upstream", name)
		}
		for _, v := range vs {
			if strings.Contains(v, userToken) {
				t.Errorf("%s: the user token reached the upstream in header %s", name, k)
			}
			if strings.EqualFold(k, "Content-Type") && strings.Contains(strings.ToLower(v), "auto") {
				t.Errorf("%s: Content-Type %q reached the upstream", name, v)
			}
		}
	}
	if strings.Contains(e.Body, userToken) {
		t.Errorf("%s: the user token reached the upstream in the body", name)
	}
}

// utf8Decode mimics the SDK's res.text() (TextDecoder, UTF-8): each byte of an
// invalid sequence becomes U+FFFD. (Exact for ReportPDF, which has no
// truncated multi-byte sequences.)
func utf8Decode(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		sb.WriteRune(r) // RuneError for an invalid byte, n == 1
		b = b[n:]
	}
	return sb.String()
}

func TestSDK(t *testing.T) {
	sdkDir(t)
	env := onbehalftest.NewEnv(t)
	userToken := env.Token()
	const tasksBefore = `{"tasks":[{"id":1,"title":"Write the proxy","done":true},{"id":2,"title":"Ship the demo","done":false}]}`
	const task1 = `{"id":1,"title":"Write the proxy","done":true}`
	const task2 = `{"id":2,"title":"Ship the demo","done":false}`
	get := map[string]any{}
	run := runSDK(t, env.Server.URL, env.Project, userToken, []scenario{
		{"list", "custom.tasklab", "/tasks", get},
		{"create", "custom.tasklab", "/tasks", map[string]any{"method": "POST", "body": map[string]any{"title": "Written by the SDK"}}},
		{"list-after-create", "custom.tasklab", "/tasks", map[string]any{"method": "GET"}},
		{"echo-post-json", "custom.tasklab", "/echo", map[string]any{"method": "POST", "body": json.RawMessage(`{"title":"Echo me","n":1}`)}},
		{"echo-get", "custom.tasklab", "/echo", get},
		{"by-id", "custom/" + TaskLabID, "/tasks/1", get},
		{"no-leading-slash", "custom.tasklab", "tasks/2", get},
		{"full-url", "custom.tasklab", env.UpstreamBase + "/tasks/1", get},
		{"refused-host", "custom.tasklab", "https://evil.example.com/x", get},
		{"upstream-404", "custom.tasklab", "tasks/999", get},
		{"after-upstream-404", "custom.tasklab", "/tasks/2", get},
		{"unknown-custom", "custom.nope", "/tasks", get},
		{"unknown-integration", "salesforce", "/services/data/v59.0/sobjects", get},
		{"query", "custom.tasklab", "echo?x=1&y=a%20b", get},
		{"binary-json-mode", "custom.tasklab", "/files/report.pdf", get},
		{"binary-raw-mode", "custom.tasklab", "/files/report.pdf", map[string]any{"headers": map[string]any{"X-Paragon-Use-Raw-Response": "true"}}},
	})

	t.Run("authenticate", func(t *testing.T) {
		if !run.Authenticated || run.AuthError != nil {
			t.Fatalf("authenticate() failed: %+v", run.AuthError)
		}
		if run.User["userId"] != env.User || run.User["authenticated"] != true {
			t.Errorf("getUser() = %v, want userId %q, authenticated", run.User, env.User)
		}
		ints, _ := run.User["integrations"].(map[string]any)
		tl, _ := ints["custom.tasklab"].(map[string]any)
		if tl["enabled"] != true || tl["credentialStatus"] != "VALID" || tl["credentialId"] == "" || tl["credentialId"] == nil {
			t.Errorf("getUser().integrations[custom.tasklab] = %v, want enabled with a VALID credential", tl)
		}
		if len(run.IntegrationMetadata) != 1 || run.IntegrationMetadata[0]["type"] != "custom.tasklab" || run.IntegrationMetadata[0]["name"] != "TaskLab" {
			t.Errorf("getIntegrationMetadata() = %v, want one item of type custom.tasklab named TaskLab", run.IntegrationMetadata)
		}
		if !run.AuthenticatedAtEnd {
			t.Error("the SDK was signed out at the end")
		}
	})
	t.Run("GET tasks is unwrapped from output", func(t *testing.T) {
		wantValue(t, run.result(t, "list", true), "object", tasksBefore)
	})
	t.Run("POST tasks with a JSON body creates a task", func(t *testing.T) {
		wantValue(t, run.result(t, "create", true), "object", `{"id":3,"title":"Written by the SDK","done":false}`)
		wantValue(t, run.result(t, "list-after-create", true), "object",
			`{"tasks":[{"id":1,"title":"Write the proxy","done":true},{"id":2,"title":"Ship the demo","done":false},{"id":3,"title":"Written by the SDK","done":false}]}`)
	})
	t.Run("POST JSON as the upstream sees it", func(t *testing.T) {
		res := run.result(t, "echo-post-json", true)
		e := echoed(t, res)
		if e.Method != "POST" || e.Path != "/api/echo" || e.Query != "" {
			t.Errorf("upstream saw %s %s?%s, want POST /api/echo", e.Method, e.Path, e.Query)
		}
		if e.Body != `{"title":"Echo me","n":1}` {
			t.Errorf("upstream body = %q, want the SDK's JSON.stringify output", e.Body)
		}
		if got := e.Header["Content-Type"]; !reflect.DeepEqual(got, []string{"application/json"}) {
			t.Errorf("upstream Content-Type = %q, want [application/json] (the SDK sent \"auto\")", got)
		}
		if got := e.Header["Content-Length"]; !reflect.DeepEqual(got, []string{"25"}) {
			t.Errorf("upstream Content-Length = %q, want [25]", got)
		}
		checkUpstreamHeaders(t, res.Name, e, env, userToken)
	})
	t.Run("GET as the upstream sees it", func(t *testing.T) {
		res := run.result(t, "echo-get", true)
		e := echoed(t, res)
		if e.Method != "GET" || e.Path != "/api/echo" || e.Body != "" {
			t.Errorf("upstream saw %s %s body %q, want GET /api/echo with no body", e.Method, e.Path, e.Body)
		}
		if ct, ok := e.Header["Content-Type"]; ok {
			t.Errorf("upstream got Content-Type %q on a GET with no body; the SDK's \"auto\" must be dropped", ct)
		}
		if got := e.Header["Accept"]; !reflect.DeepEqual(got, []string{"application/json"}) {
			t.Errorf("upstream Accept = %q, want the SDK's [application/json]", got)
		}
		checkUpstreamHeaders(t, res.Name, e, env, userToken)
	})
	t.Run("custom integration by id", func(t *testing.T) {
		wantValue(t, run.result(t, "by-id", true), "object", task1)
	})
	t.Run("path without a leading slash", func(t *testing.T) {
		wantValue(t, run.result(t, "no-leading-slash", true), "object", task2)
	})
	t.Run("fully-qualified URL to the integration host", func(t *testing.T) {
		wantValue(t, run.result(t, "full-url", true), "object", task1)
	})
	t.Run("refused host", func(t *testing.T) {
		res := run.result(t, "refused-host", false)
		wantError(t, res, 403, "HOST_NOT_ALLOWED", "This domain is invalid for the current integration")
		if res.Error.Response["message"] != "This domain is invalid for the current integration" {
			t.Errorf("err.response.message = %v", res.Error.Response["message"])
		}
		if res.Error.Meta != nil {
			t.Errorf("a refused host is the proxy's error, not the integration's; meta = %v", res.Error.Meta)
		}
	})
	t.Run("upstream error", func(t *testing.T) {
		res := run.result(t, "upstream-404", false)
		meta := `{"isIntegrationError":true,"status":404,"body":{"message":"task 999 not found"}}`
		// With meta.isIntegrationError the SDK's message is JSON.stringify(meta).
		if !jsonEqual(t, []byte(res.Error.Message), []byte(meta)) {
			t.Errorf("err.message = %q, want JSON of %s", res.Error.Message, meta)
		}
		wantError(t, res, 404, "INTEGRATION_ERROR", res.Error.Message)
		m, _ := json.Marshal(res.Error.Meta)
		if !jsonEqual(t, m, []byte(meta)) {
			t.Errorf("err.response.meta = %s, want %s", m, meta)
		}
		if res.Error.Response["message"] != "task 999 not found" {
			t.Errorf("err.response.message = %v, want the upstream's message", res.Error.Response["message"])
		}
		// Still signed in, and the next call works.
		wantValue(t, run.result(t, "after-upstream-404", true), "object", task2)
	})
	t.Run("unknown integration", func(t *testing.T) {
		for _, name := range []string{"unknown-custom", "unknown-integration"} {
			res := run.result(t, name, false)
			wantError(t, res, 404, "INTEGRATION_NOT_FOUND", "Unknown integration for this project.")
			if res.Error.Meta != nil {
				t.Errorf("%s: meta = %v, want none", name, res.Error.Meta)
			}
		}
	})
	t.Run("query string preserved", func(t *testing.T) {
		e := echoed(t, run.result(t, "query", true))
		if e.Method != "GET" || e.Path != "/api/echo" || e.Query != "x=1&y=a%20b" {
			t.Errorf("upstream saw %s %s?%s, want GET /api/echo?x=1&y=a%%20b", e.Method, e.Path, e.Query)
		}
	})
	t.Run("binary body", func(t *testing.T) {
		res := run.result(t, "binary-json-mode", false)
		wantError(t, res, 406, "USE_RAW_RESPONSE", res.Error.Message)
		res = run.result(t, "binary-raw-mode", true)
		var s string
		if err := json.Unmarshal(res.Value, &s); err != nil || res.Type != "string" {
			t.Fatalf("raw mode: %s %s, want a string", res.Type, res.Value)
		}
		if want := utf8Decode(onbehalftest.ReportPDF); s != want {
			t.Errorf("raw mode body = %q\nwant %q", s, want)
		}
	})
	for _, r := range run.Results {
		if !r.AuthenticatedAfter {
			t.Errorf("the SDK was signed out after scenario %q", r.Name)
		}
	}
}

// recorder notes every request the handler answers, in order.
type recorder struct {
	mu   sync.Mutex
	reqs []string // "METHOD path status"
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (rec *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r.Method+" "+r.URL.Path+" "+strconv.Itoa(sw.status))
		rec.mu.Unlock()
	})
}

func (rec *recorder) reset() {
	rec.mu.Lock()
	rec.reqs = nil
	rec.mu.Unlock()
}

func (rec *recorder) list() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.reqs...)
}

// TestSDKStaysAuthenticatedAfterProxy401And403 checks what FINDINGS.md §6
// describes: after a 401 or 403 of the proxy's own (not an integration
// error), the SDK re-reads /sdk/me and, since that answers 200, stays signed in.
func TestSDKStaysAuthenticatedAfterProxy401And403(t *testing.T) {
	sdkDir(t)
	env := onbehalftest.NewEnv(t)
	rec := &recorder{}
	srv := httptest.NewServer(rec.wrap(env.Handler))
	t.Cleanup(srv.Close)
	sdk := "/projects/" + env.Project + "/sdk"
	proxy := sdk + "/proxy/custom.tasklab"

	t.Run("401 and 403", func(t *testing.T) {
		rec.reset()
		run := runSDK(t, srv.URL, env.Project, env.Token(), []scenario{
			{"before", "custom.tasklab", "/tasks/1", nil},
			// 403 HOST_NOT_ALLOWED.
			{"403", "custom.tasklab", "https://evil.example.com/x", nil},
			// A lower-case authorization header is joined by fetch with the
			// SDK's own: "Bearer x, Bearer <token>", refused with 401.
			{"401", "custom.tasklab", "/tasks/1", map[string]any{"headers": map[string]any{"authorization": "Bearer x"}}},
			// An integration error (even a 404) triggers no re-read.
			{"integration-404", "custom.tasklab", "/tasks/999", nil},
			{"after", "custom.tasklab", "/tasks/1", nil},
		})
		if !run.Authenticated {
			t.Fatalf("authenticate() failed: %+v", run.AuthError)
		}
		wantError(t, run.result(t, "403", false), 403, "HOST_NOT_ALLOWED", "This domain is invalid for the current integration")
		res := run.result(t, "401", false)
		if res.Error.Status != 401 || !strings.HasPrefix(res.Error.Code, "AUTH_") {
			t.Errorf("401: error %+v, want a 401 AUTH_* error", *res.Error)
		}
		wantError(t, res, 401, res.Error.Code, res.Error.Message)
		run.result(t, "integration-404", false)
		wantValue(t, run.result(t, "after", true), "object", `{"id":1,"title":"Write the proxy","done":true}`)
		if !run.AuthenticatedAtEnd {
			t.Error("the SDK was signed out at the end")
		}
		got := rec.list()
		if len(got) < 2 {
			t.Fatalf("requests: %q", got)
		}
		// authenticate() sends both bootstrap calls at once: either order.
		boot := []string{"GET " + sdk + "/integrations 200", "GET " + sdk + "/me 200"}
		first := append([]string(nil), got[:2]...)
		sort.Strings(first)
		want := []string{
			"GET " + proxy + "/tasks/1 200",
			"GET " + proxy + "/https://evil.example.com/x 403",
			"GET " + sdk + "/me 200", // the re-read after the 403
			"GET " + proxy + "/tasks/1 401",
			"GET " + sdk + "/me 200", // the re-read after the 401
			"GET " + proxy + "/tasks/999 404",
			"GET " + proxy + "/tasks/1 200",
		}
		if !reflect.DeepEqual(first, boot) || !reflect.DeepEqual(got[2:], want) {
			t.Errorf("requests the handler saw:\n  %s\nwant (after the two bootstrap calls):\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	})

	t.Run("403 for a token without the proxy permission", func(t *testing.T) {
		rec.reset()
		tok := env.Token(onbehalftest.TokenOptions{Claims: map[string]any{middleware.PermissionsClaim: map[string]any{"proxy": false}}})
		run := runSDK(t, srv.URL, env.Project, tok, []scenario{
			{"denied", "custom.tasklab", "/tasks", nil},
			{"denied-again", "custom.tasklab", "/tasks", nil},
		})
		if !run.Authenticated {
			t.Fatalf("authenticate() failed: %+v", run.AuthError)
		}
		for _, name := range []string{"denied", "denied-again"} {
			res := run.result(t, name, false)
			wantError(t, res, 403, "AUTH_PERMISSION_DENIED", res.Error.Message)
		}
		got := rec.list()
		want := []string{
			"GET " + proxy + "/tasks 403", "GET " + sdk + "/me 200",
			"GET " + proxy + "/tasks 403", "GET " + sdk + "/me 200",
		}
		if len(got) != 6 || !reflect.DeepEqual(got[2:], want) {
			t.Errorf("requests the handler saw:\n  %s\nwant (after the two bootstrap calls):\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		if !run.AuthenticatedAtEnd {
			t.Error("the SDK was signed out at the end")
		}
	})
}
