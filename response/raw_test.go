package response

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRawRedactAnnouncedLength: a raw body is redacted whether its announced
// length is right, too short (a hand-built response), or past the buffer.
func TestRawRedactAnnouncedLength(t *testing.T) {
	rs, err := NewResponder(Config{})
	if err != nil {
		t.Fatal(err)
	}
	red := NewRedactor("tok-SECRET-1")
	long := strings.Repeat("x", rawBufferBytes) + "tok-SECRET-1"
	for _, tc := range []struct {
		name   string
		body   string
		cl     int64
		wantCL int64
	}{
		{"exact", "a tok-SECRET-1 b", 16, int64(len("a [redacted] b"))},
		{"announced short", "a tok-SECRET-1 b", 0, int64(len("a [redacted] b"))},
		{"longer than the buffer", long, 5, -1},
		{"unknown length", "tok-SECRET-1", -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(WithMode(t.Context(), ModeRaw), http.MethodGet, "http://x/", nil)
			resp := &http.Response{StatusCode: 200, Header: http.Header{}, ContentLength: tc.cl,
				Body: io.NopCloser(strings.NewReader(tc.body)), Request: req}
			if err := rs.ModifyRedacted(resp, red); err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			want := strings.ReplaceAll(tc.body, "tok-SECRET-1", Marker)
			if string(b) != want || resp.ContentLength != tc.wantCL {
				t.Fatalf("got %d bytes (ContentLength %d), want %d bytes (ContentLength %d)", len(b), resp.ContentLength, len(want), tc.wantCL)
			}
		})
	}
}
