package middleware_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// wireUpstream is a loopback upstream that keeps each request exactly as it
// arrived on the wire (request line, every header line, framing, trailers),
// where a parsed http.Request would already have hidden Transfer-Encoding and
// Trailer. One request per connection; it answers {"ok":true}.
type wireUpstream struct {
	ln       *countingListener
	base     string // http://localhost:PORT
	mu       sync.Mutex
	raw      []string
	complete []bool // whether the request's body arrived in full
}

func newWireUpstream(t *testing.T) *wireUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wireUpstream{ln: &countingListener{Listener: ln}, base: "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := w.ln.Accept()
			if err != nil {
				return
			}
			go w.serve(c)
		}
	}()
	return w
}

func (w *wireUpstream) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var tee bytes.Buffer
	req, err := http.ReadRequest(bufio.NewReader(io.TeeReader(c, &tee)))
	complete := false
	if err == nil {
		_, err = io.Copy(io.Discard, req.Body)
		complete = err == nil
	}
	w.mu.Lock()
	w.raw = append(w.raw, tee.String())
	w.complete = append(w.complete, complete)
	w.mu.Unlock()
	if complete {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}")
	}
}

func (w *wireUpstream) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.raw)
}

// head returns the header lines of request i, lower-cased names kept as sent.
func (w *wireUpstream) head(i int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	h, _, _ := strings.Cut(w.raw[i], "\r\n\r\n")
	return h
}

// rawExchange sends raw bytes to addr and parses one response.
func rawExchange(t *testing.T, addr, raw string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the proxy's answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSecurityRequestHeaders: what a browser or any other client sends in
// headers never reaches the provider unless it is an ordinary end-to-end
// header, and nothing it sends can remove, replace or smuggle around the
// credential the proxy adds. Requests are written byte for byte on a raw
// socket and the upstream keeps what it got byte for byte.
func TestSecurityRequestHeaders(t *testing.T) {
	wire := newWireUpstream(t)
	mk := func(typ string, a integrations.SchemeConfig) integrations.Config {
		return integrations.Config{Type: typ, BaseURL: wire.base + "/base", AllowedSchemes: []string{"http"},
			AllowAddresses: []string{"127.0.0.0/8"}, Auth: a}
	}
	e := envWith(t, []integrations.Config{
		mk("bearer", integrations.SchemeConfig{Type: integrations.AuthAPIKey, Prefix: "Bearer "}),
		mk("xkey", integrations.SchemeConfig{Type: integrations.AuthAPIKey, Name: "X-Api-Key"}),
	})
	connect(t, e, "bearer", tokens.Credential{APIKey: "provider-key"}, nil)
	connect(t, e, "xkey", tokens.Credential{APIKey: "x-api-secret"}, nil)
	addr := strings.TrimPrefix(e.Server.URL, "http://")
	token := e.Token()
	auth := "Authorization: Bearer " + token + "\r\n"
	path := func(in string) string { return "/projects/" + e.Project + "/sdk/proxy/" + in }

	cases := []struct {
		name    string
		skip    string // "bug: ..." while a known bug is open
		request string // raw request; "{auth}" is replaced by the user token header
		status  int
		absent  []string // substrings (case-insensitive) the upstream's header block must not contain
		present []string // header lines the upstream must have received exactly
	}{
		// The user token is the host app's credential, not the provider's.
		{name: "user token", request: "GET " + path("bearer/x") + " HTTP/1.1\r\nHost: a\r\n{auth}\r\n", status: 200,
			absent: []string{token}, present: []string{"Authorization: Bearer provider-key"}},
		// Cookies of the host app's origin (its session) must not reach a third party.
		{name: "cookie", request: "GET " + path("bearer/x") + " HTTP/1.1\r\nHost: a\r\n{auth}Cookie: session=host-app-session\r\n\r\n", status: 200,
			absent: []string{"cookie", "host-app-session"}},
		// X-Paragon-* are instructions to the proxy (and the SDK's version), not to the provider.
		{name: "x-paragon-*", request: "GET " + path("bearer/x") + " HTTP/1.1\r\nHost: a\r\n{auth}X-Paragon-Sdk-Version: 2.4.0\r\nX-Paragon-Use-Raw-Response: 0\r\nX-Paragon-Anything: y\r\n\r\n", status: 200,
			absent: []string{"x-paragon"}},
		// Forwarding headers would tell the provider about the host app's network, or let the client forge them.
		{name: "forwarding headers", request: "GET " + path("bearer/x") + " HTTP/1.1\r\nHost: a\r\n{auth}Forwarded: for=10.0.0.1;host=internal\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: internal\r\nX-Forwarded-Proto: https\r\nX-Real-Ip: 10.0.0.1\r\n\r\n", status: 200,
			absent: []string{"forwarded", "x-real-ip", "10.0.0.1"}},
		// Hop-by-hop headers belong to the client's connection only.
		{name: "connection, keep-alive, proxy-connection", request: "GET " + path("bearer/x") + " HTTP/1.1\r\nHost: a\r\n{auth}Connection: keep-alive, X-Hop\r\nKeep-Alive: timeout=500\r\nProxy-Connection: keep-alive\r\nX-Hop: listed-in-connection\r\n\r\n", status: 200,
			absent: []string{"keep-alive", "proxy-connection", "x-hop", "timeout=500"}},
		// TE: the client's transfer codings are not the provider's business
		// (ReverseProxy itself may say "Te: trailers": that is the proxy's own capability).
		{name: "te", request: "GET " + path("bearer/x") + " HTTP/1.1\r\nHost: a\r\n{auth}TE: gzip, deflate;q=0.5\r\n\r\n", status: 200,
			absent: []string{"gzip", "deflate"}},
		// Transfer-Encoding: the client's framing ends at the proxy; a CL+TE pair must not smuggle a second request.
		{name: "transfer-encoding and content-length (smuggling)", request: "POST " + path("bearer/x") + " HTTP/1.1\r\nHost: a\r\n{auth}Content-Type: text/plain\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"2a\r\nGET /smuggled HTTP/1.1\r\nHost: internal\r\n\r\n\r\n0\r\n\r\n", status: 200,
			absent: []string{"/smuggled"}},
		// Trailer: a client-declared trailer list is hop-by-hop and must not be announced upstream.
		{name: "trailer",
			request: "POST " + path("bearer/x") + " HTTP/1.1\r\nHost: a\r\n{auth}Content-Type: text/plain\r\nTrailer: Authorization, X-Smuggled\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Smuggled: yes\r\nAuthorization: Bearer evil\r\n\r\n", status: 200,
			absent: []string{"trailer", "x-smuggled", "evil"}, present: []string{"Authorization: Bearer provider-key"}},
		// Upgrade: a client must not turn the proxied call into a tunnel (WebSocket, h2c)
		// that bypasses the response modes and their header filtering.
		{name: "upgrade",
			request: "GET " + path("bearer/x") + " HTTP/1.1\r\nHost: a\r\n{auth}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", status: 200,
			absent: []string{"upgrade", "websocket"}},
		// Connection: Authorization must not strip the credential added after hop-by-hop removal.
		{name: "connection names authorization", request: "GET " + path("bearer/x") + " HTTP/1.1\r\nHost: a\r\n{auth}Connection: Authorization\r\n\r\n", status: 200,
			present: []string{"Authorization: Bearer provider-key"}},
		// The same for an API key in its own header.
		{name: "connection names x-api-key", request: "GET " + path("xkey/x") + " HTTP/1.1\r\nHost: a\r\n{auth}Connection: X-Api-Key\r\nX-Api-Key: attacker-key\r\n\r\n", status: 200,
			absent: []string{"attacker-key"}, present: []string{"X-Api-Key: x-api-secret"}},
		// A client-sent header with the credential's name is replaced, never doubled.
		{name: "client sends the credential header", request: "GET " + path("xkey/x") + " HTTP/1.1\r\nHost: a\r\n{auth}X-Api-Key: attacker-key\r\nX-API-KEY: attacker-key-2\r\n\r\n", status: 200,
			absent: []string{"attacker-key"}, present: []string{"X-Api-Key: x-api-secret"}},
		// Two Authorization headers: ambiguous which token is the user's; refused before anything is sent.
		{name: "duplicate authorization", request: "GET " + path("bearer/x") + " HTTP/1.1\r\nHost: a\r\n{auth}Authorization: Bearer provider-override\r\n\r\n", status: 401},
		// CRLF injection, obs-fold: a continuation line in X-Paragon-Proxy-Url must not become a header upstream.
		{name: "obs-fold in the target header", request: "GET " + path("bearer") + " HTTP/1.1\r\nHost: a\r\n{auth}X-Paragon-Proxy-Url: /x\r\n X-Injected: 1\r\n\r\n", status: 200,
			absent: []string{"\r\nx-injected"}},
		// CRLF injection, bare CR in the target header: refused by the server before the handler.
		{name: "bare CR in the target header", request: "GET " + path("bearer") + " HTTP/1.1\r\nHost: a\r\n{auth}X-Paragon-Proxy-Url: /x\rX-Injected: 1\r\n\r\n", status: 400},
		// CRLF injection, percent-encoded in the target's path: refused, never decoded into the request.
		{name: "encoded CRLF in the target path", request: "GET " + path("bearer") + " HTTP/1.1\r\nHost: a\r\n{auth}X-Paragon-Proxy-Url: /x%0d%0aX-Injected:%201\r\n\r\n", status: 400},
		// CRLF injection, percent-encoded in the query: forwarded still encoded, so it stays data.
		{name: "encoded CRLF in the target query", request: "GET " + path("bearer") + " HTTP/1.1\r\nHost: a\r\n{auth}X-Paragon-Proxy-Url: /x?a=%0d%0aX-Injected:%201\r\n\r\n", status: 200,
			absent: []string{"\r\nx-injected"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip != "" {
				t.Skip(tc.skip)
			}
			before := wire.count()
			req := strings.ReplaceAll(tc.request, "{auth}", auth)
			if !strings.Contains(req, "Connection:") {
				req = strings.Replace(req, "Host: a\r\n", "Host: a\r\nConnection: close\r\n", 1)
			}
			status, body := rawExchange(t, addr, req)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if status != 200 {
				time.Sleep(50 * time.Millisecond)
				if wire.count() != before {
					t.Fatalf("a refused request reached the provider:\n%s", wire.head(before))
				}
				return
			}
			if wire.count() != before+1 {
				t.Fatalf("upstream requests %d → %d, want one", before, wire.count())
			}
			head := wire.head(before)
			for _, s := range tc.absent {
				if strings.Contains(strings.ToLower(head), strings.ToLower(s)) {
					t.Errorf("the provider received %q:\n%s", s, head)
				}
			}
			for _, line := range tc.present {
				if n := strings.Count("\r\n"+head+"\r\n", "\r\n"+line+"\r\n"); n != 1 {
					t.Errorf("the provider received %q %d times, want once:\n%s", line, n, head)
				}
			}
		})
	}
}

// TestSecurityHeaderInjectionDirect defends against CR/LF in header values
// that never crossed a real HTTP parser (a handler mounted behind another
// framework, an in-process call): the handler itself refuses a target header
// holding CR or LF, and a forwarded header holding them never becomes a
// header line upstream.
func TestSecurityHeaderInjectionDirect(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey})})
	connect(t, e, "api", tokens.Credential{APIKey: "k"}, nil)
	cases := []struct {
		name   string
		path   string
		header string
		value  string
		status int
	}{
		{"CRLF in X-Paragon-Proxy-Url", "api", middleware.ProxyURLHeader, "/x\r\nX-Injected: 1", 400},
		{"LF in X-Paragon-Proxy-Url", "api", middleware.ProxyURLHeader, "/x\nHost: evil.example.com", 400},
		{"NUL in X-Paragon-Proxy-Url", "api", middleware.ProxyURLHeader, "/x\x00y", 400},
		{"CRLF in a forwarded header", "api/x", "X-Custom", "v\r\nX-Injected: 1", 502},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := rec.count.Load()
			req := httptest.NewRequest("GET", "/projects/"+e.Project+"/sdk/proxy/"+tc.path, nil)
			req.Header.Set("Authorization", "Bearer "+e.Token())
			req.Header[tc.header] = []string{tc.value}
			w := httptest.NewRecorder()
			e.Handler.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if rec.count.Load() != before {
				t.Fatalf("the request reached the provider with headers %v", rec.last(t).Header)
			}
		})
	}
}

// TestSecurityRawModeDroppedHeaders: in raw mode the provider's answer
// streams through, but no header that would act on the host app's own origin
// (cookies, CORS grants, HSTS, reporting, credential prompts, policies) does;
// the proxy's own sandbox CSP replaces the provider's. Every name in
// response.RawDroppedHeaders and a spread of Access-Control-* is checked, in
// raw mode and in JSON mode.
func TestSecurityRawModeDroppedHeaders(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey})})
	connect(t, e, "api", tokens.Credential{APIKey: "k"}, nil)
	dropped := append([]string{
		"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Expose-Headers", "Access-Control-Max-Age",
		"Access-Control-Allow-Private-Network",
	}, response.RawDroppedHeaders...)
	rec.setReply(func(w http.ResponseWriter, _ *http.Request) {
		for _, k := range dropped {
			w.Header().Add(k, "from-provider-"+k)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"a":1}`)
	})
	for _, mode := range []string{"raw", "json"} {
		h := http.Header{}
		if mode == "raw" {
			h.Set(response.RawHeader, "1")
		}
		resp := e.Do(t, "GET", e.ProxyURL("api", "x"), nil, h)
		readBody(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", mode, resp.StatusCode)
		}
		for _, k := range dropped {
			t.Run(mode+"/"+k, func(t *testing.T) {
				for _, v := range resp.Header.Values(k) {
					if strings.HasPrefix(v, "from-provider-") {
						t.Fatalf("%s passed through: %q", k, v)
					}
				}
			})
		}
		if mode == "raw" && (resp.Header.Get("Content-Security-Policy") != "sandbox; default-src 'none'" || resp.Header.Get("X-Content-Type-Options") != "nosniff") {
			t.Errorf("raw mode without the sandbox: CSP %q, nosniff %q", resp.Header.Get("Content-Security-Policy"), resp.Header.Get("X-Content-Type-Options"))
		}
	}
}
