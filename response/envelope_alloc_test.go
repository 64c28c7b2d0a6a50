package response

import (
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"
)

// TestMediaTypeMatchesParseMediaType: the allocation-free mediaType gives
// what mime.ParseMediaType gave (and its fallback, for values it refuses).
func TestMediaTypeMatchesParseMediaType(t *testing.T) {
	for _, v := range []string{
		"", "application/json", "Application/JSON; charset=UTF-8", " text/plain ;charset=utf-8",
		"application/vnd.api+json", "text/html; charset", "application/json;;", "weird value",
		"application/json; a=\"unterminated", "multipart/form-data; boundary=x; boundary=y", "TEXT/CSV",
	} {
		want := ""
		if v != "" {
			mt, _, err := mime.ParseMediaType(v)
			if err != nil {
				mt = strings.ToLower(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]))
			}
			want = mt
		}
		if got := mediaType(v); got != want {
			t.Errorf("mediaType(%q): got %q, want %q", v, got, want)
		}
	}
}

// TestKeptHeadersInPlace: JSON mode keeps the rate-limit and request-id
// headers and the error source, and nothing else.
func TestKeptHeadersInPlace(t *testing.T) {
	h := http.Header{
		"Content-Type": {"application/json"}, "Set-Cookie": {"a=b"}, "X-Request-Id": {"r1"},
		"Retry-After": {"3"}, "X-Ratelimit-Remaining": {"9"}, "Ratelimit-Reset": {"1"},
		"Ratelimit": {"x"}, ErrorSourceHeader: {"integration"}, "x-request-id": {"not canonical"},
	}
	got := keptHeaders(h)
	want := []string{"X-Request-Id", "Retry-After", "X-Ratelimit-Remaining", "Ratelimit-Reset", "Ratelimit", ErrorSourceHeader}
	if len(got) != len(want) {
		t.Fatalf("got %v, want the keys %v", got, want)
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("missing %s in %v", k, got)
		}
	}
}

// TestEnvelopeAllocs guards the JSON envelope's allocation budget: the
// pooled buffers, one body object and the Content-Length value.
func TestEnvelopeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector are not meaningful")
	}
	rs, _ := NewResponder(Config{})
	body := strings.Repeat(`{"a":1},`, 500) + `{"a":1}`
	src := "[" + body + "]"
	n := testing.AllocsPerRun(200, func() {
		resp := &http.Response{StatusCode: 200, ContentLength: int64(len(src)),
			Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}, "X-Request-Id": {"r"}},
			Body:   io.NopCloser(strings.NewReader(src))}
		if err := rs.envelope(resp, nil); err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	})
	// The test's own response, header map, reader and NopCloser: 6; the
	// envelope: the body object and the Content-Length string.
	if n > 9 {
		t.Errorf("got %.1f allocations per envelope, want at most 9", n)
	}
}
