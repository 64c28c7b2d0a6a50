package middleware_test

import (
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// echoCase is one credential scheme and the secret forms it sends.
type echoCase struct {
	name    string
	auth    integrations.SchemeConfig
	cred    tokens.Credential
	secrets []string // every form that must never come back
}

var echoCases = []echoCase{
	{"oauth bearer", integrations.SchemeConfig{Type: integrations.AuthOAuth2, TokenURL: "https://tokens.invalid/token"},
		tokens.Credential{AccessToken: "at-SECRET-1a2b3c", RefreshToken: "rt-SECRET-4d5e6f", Expiry: time.Now().Add(time.Hour)},
		[]string{"at-SECRET-1a2b3c", "rt-SECRET-4d5e6f"}},
	{"api key header", integrations.SchemeConfig{Type: integrations.AuthAPIKey, Name: "X-Api-Key", Prefix: "Key "},
		tokens.Credential{APIKey: "hk-SECRET-7g8h9i"}, []string{"hk-SECRET-7g8h9i"}},
	{"api key query", integrations.SchemeConfig{Type: integrations.AuthAPIKey, In: "query", Name: "api_key"},
		tokens.Credential{APIKey: "qk+SECRET/0j=1k"}, []string{"qk+SECRET/0j=1k", url.QueryEscape("qk+SECRET/0j=1k"), url.PathEscape("qk+SECRET/0j=1k")}},
	{"basic", integrations.SchemeConfig{Type: integrations.AuthBasic},
		tokens.Credential{Username: "svc-user", Password: "pw-SECRET-2l3m"},
		[]string{"pw-SECRET-2l3m", base64.StdEncoding.EncodeToString([]byte("svc-user:pw-SECRET-2l3m"))}},
	// A key sent as the basic username with no password (Stripe's style).
	{"basic key as username", integrations.SchemeConfig{Type: integrations.AuthBasic},
		tokens.Credential{Username: "ku-SECRET-5u6v"},
		[]string{"ku-SECRET-5u6v", base64.StdEncoding.EncodeToString([]byte("ku-SECRET-5u6v:"))}},
}

// echo answers with everything the request carried that could hold the
// credential: its Authorization and X-Api-Key headers and its query, in the
// body and in Location and a custom header.
func echo(status int, raw bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, _, _ := r.BasicAuth() // decoded, as a provider's "unknown user X" would quote it
		said := r.Header.Get("Authorization") + " " + user + " " + r.Header.Get("X-Api-Key") + " " + r.URL.RawQuery
		w.Header().Set("Location", "/moved?"+r.URL.RawQuery)
		w.Header().Set("X-Request-Id", said)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		body := fmt.Sprintf(`{"message":"credential rejected: %s","query":%q}`, said, r.URL.RawQuery)
		if !raw {
			_, _ = io.WriteString(w, body)
			return
		}
		// Three bytes a write, flushed: every secret is split across reads.
		for i := 0; i < len(body); i += 3 {
			_, _ = io.WriteString(w, body[i:min(i+3, len(body))])
			w.(http.Flusher).Flush()
		}
	}
}

// TestSecurityEchoedCredentialRedacted defends against a provider that
// echoes the request (a 4xx that quotes the Authorization header, a redirect
// that keeps the query with the API key, a debug endpoint) handing the end
// user's browser the stored credential: in JSON mode (output, error message
// and meta.body, kept headers) and in raw mode (streamed body, every header),
// for each credential scheme, in every encoding it was sent in.
func TestSecurityEchoedCredentialRedacted(t *testing.T) {
	for _, ec := range echoCases {
		t.Run(ec.name, func(t *testing.T) {
			rec := newRecorder(t)
			e := envWith(t, []integrations.Config{localIntegration(rec, "echo", ec.auth)})
			connect(t, e, "echo", ec.cred, nil)
			for _, mode := range []struct {
				name   string
				status int
				raw    bool
			}{
				{"json 200", 200, false}, {"json 403", 403, false}, {"json 302", 302, false},
				{"raw 200", 200, true}, {"raw 403", 403, true}, {"raw 302", 302, true},
			} {
				rec.setReply(echo(mode.status, mode.raw))
				var h http.Header
				if mode.raw {
					h = http.Header{"X-Paragon-Use-Raw-Response": {"1"}}
				}
				req, _ := http.NewRequest("GET", e.ProxyURL("echo", "whoami?q=1"), nil)
				req.Header.Set("Authorization", "Bearer "+e.Token())
				for k, v := range h {
					req.Header[k] = v
				}
				resp, err := noRedirects.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				dump, err := httputil.DumpResponse(resp, true)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				got := string(dump)
				if !strings.Contains(got, "[redacted]") {
					t.Errorf("%s: the echo was not redacted at all:\n%s", mode.name, got)
				}
				for _, s := range ec.secrets {
					if strings.Contains(got, s) {
						t.Errorf("%s: the answer holds the secret %q:\n%s", mode.name, s, got)
					}
				}
				// The provider did receive the credential: the redaction is
				// on the way back only.
				last := rec.last(t)
				sent, received := last.Header.Get("Authorization")+last.Header.Get("X-Api-Key")+last.Query, false
				for _, s := range ec.secrets {
					received = received || strings.Contains(sent, s)
				}
				if !received {
					t.Errorf("%s: the provider did not receive the credential: %q", mode.name, sent)
				}
			}
		})
	}
}

// noRedirects returns 3xx answers as they are, as a browser's fetch with
// redirect: "manual" would let a script see them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestSecurityEchoedGzipRedacted defends against a provider that compresses
// its echo although the proxy asked for no encoding: raw mode decodes a gzip
// body to redact it (and the proxy never forwards the client's
// Accept-Encoding, so an honest provider sends identity).
func TestSecurityEchoedGzipRedacted(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "echo", integrations.SchemeConfig{Type: integrations.AuthAPIKey, Name: "X-Api-Key"})})
	connect(t, e, "echo", tokens.Credential{APIKey: "gz-SECRET-5n6o"}, nil)
	rec.setReply(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "text/plain")
		zw := gzip.NewWriter(w)
		_, _ = io.WriteString(zw, "you sent "+r.Header.Get("X-Api-Key"))
		_ = zw.Close()
	})
	resp := e.Do(t, "GET", e.ProxyURL("echo", "x"), nil, http.Header{"X-Paragon-Use-Raw-Response": {"1"}, "Accept-Encoding": {"gzip"}})
	body := string(readBody(t, resp))
	if body != "you sent [redacted]" || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("got %q (Content-Encoding %q), want the decoded, redacted body", body, resp.Header.Get("Content-Encoding"))
	}
	if ae := rec.last(t).Header.Get("Accept-Encoding"); ae != "" {
		t.Errorf("the client's Accept-Encoding reached the provider: %q", ae)
	}
}

// TestSecurityEchoAfterReplayRedacted: after a refresh-on-401 the replay
// carries a fresh token; an echo of it is redacted too.
func TestSecurityEchoAfterReplayRedacted(t *testing.T) {
	rec := newRecorder(t)
	const fresh = "fresh-SECRET-7p8q9r"
	rec.setReply(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/token":
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":3600}`, fresh)
		case r.Header.Get("Authorization") != "Bearer "+fresh:
			w.WriteHeader(401)
		default:
			echo(200, false)(w, r)
		}
	})
	in := localIntegration(rec, "echo", integrations.SchemeConfig{Type: integrations.AuthOAuth2, TokenURL: rec.base + "/token"})
	e := envWith(t, []integrations.Config{in})
	connect(t, e, "echo", tokens.Credential{AccessToken: "stale-SECRET-1", RefreshToken: "rt-SECRET-2", Expiry: time.Now().Add(time.Hour)}, nil)
	resp := e.Do(t, "GET", e.ProxyURL("echo", "me"), nil, nil)
	body := string(readBody(t, resp))
	if resp.StatusCode != 200 || !strings.Contains(body, "Bearer [redacted]") || strings.Contains(body, fresh) {
		t.Fatalf("got %d %s, want the fresh token redacted", resp.StatusCode, body)
	}
}

// TestRawRedactedLengths: a raw answer of announced length (an API answer)
// is redacted whole and keeps an exact Content-Length; one of unknown
// length (a stream) is redacted as it streams, without one.
func TestRawRedactedLengths(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "echo", integrations.SchemeConfig{Type: integrations.AuthAPIKey, Name: "X-Api-Key"})})
	connect(t, e, "echo", tokens.Credential{APIKey: "len-SECRET-3s4t"}, nil)
	for _, stream := range []bool{false, true} {
		rec.setReply(func(w http.ResponseWriter, r *http.Request) {
			body := "key=" + r.Header.Get("X-Api-Key") + ";"
			if !stream {
				w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			}
			_, _ = io.WriteString(w, body)
			if stream {
				w.(http.Flusher).Flush()
				_, _ = io.WriteString(w, "more")
			}
		})
		resp := e.Do(t, "GET", e.ProxyURL("echo", "x"), nil, http.Header{"X-Paragon-Use-Raw-Response": {"1"}})
		body := string(readBody(t, resp))
		want := "key=[redacted];"
		if stream {
			want += "more"
		}
		if body != want {
			t.Fatalf("stream %v: body %q, want %q", stream, body, want)
		}
		if cl := resp.Header.Get("Content-Length"); (cl == fmt.Sprint(len(want))) == stream || resp.ContentLength != map[bool]int64{false: int64(len(want)), true: -1}[stream] {
			t.Errorf("stream %v: Content-Length %q (%d)", stream, cl, resp.ContentLength)
		}
	}
}

// TestSecurityUserTokenNotInForwardedQuery defends against the user's own
// token reaching the provider through the query string, which is forwarded
// as sent: a client that puts it in ?access_token= as well as in
// Authorization is refused before anything is sent.
func TestSecurityUserTokenNotInForwardedQuery(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "api", integrations.SchemeConfig{Type: integrations.AuthAPIKey})})
	connect(t, e, "api", tokens.Credential{APIKey: "k"}, nil)
	tok := e.Token()
	resp := e.Do(t, "GET", e.ProxyURL("api", "x?access_token="+tok), nil, http.Header{"Authorization": {"Bearer " + tok}})
	if b := errorBody(t, resp); resp.StatusCode != 400 || b.Code != "BAD_REQUEST" {
		t.Fatalf("got %d %s, want 400 BAD_REQUEST", resp.StatusCode, b.Code)
	}
	if rec.count.Load() != 0 {
		t.Fatal("the request reached the provider")
	}
}

// TestRawLargeBodyMasked: a raw body of announced length past the buffer (a
// file) keeps its Content-Length and streams; a secret in it is masked byte
// for byte.
func TestRawLargeBodyMasked(t *testing.T) {
	rec := newRecorder(t)
	e := envWith(t, []integrations.Config{localIntegration(rec, "echo", integrations.SchemeConfig{Type: integrations.AuthAPIKey, Name: "X-Api-Key"})})
	const key = "big-SECRET-7w8x"
	connect(t, e, "echo", tokens.Credential{APIKey: key}, nil)
	filler := strings.Repeat("0123456789", 10_000) // 100 kB
	rec.setReply(func(w http.ResponseWriter, r *http.Request) {
		body := filler + r.Header.Get("X-Api-Key") + filler
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.WriteString(w, body)
	})
	resp := e.Do(t, "GET", e.ProxyURL("echo", "file"), nil, http.Header{"X-Paragon-Use-Raw-Response": {"1"}})
	body := string(readBody(t, resp))
	want := filler + strings.Repeat("*", len(key)) + filler
	if body != want || resp.ContentLength != int64(len(want)) {
		t.Fatalf("got %d bytes (Content-Length %d, secret present %v), want %d masked bytes with their length",
			len(body), resp.ContentLength, strings.Contains(body, key), len(want))
	}
}
