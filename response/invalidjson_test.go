package response

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestInvalidJSONBodyWrappedAsText: a provider answering 200 with
// Content-Type application/json and a body that is not JSON gets it back as
// a JSON string, {"output": "<the text>"}: only valid JSON goes into the
// envelope as is, and nothing is lost.
func TestInvalidJSONBodyWrappedAsText(t *testing.T) {
	rs, err := NewResponder(Config{})
	if err != nil {
		t.Fatal(err)
	}
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"unclosed": tru`))}
	if err := rs.Modify(resp); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if want := `{"output":"{\"unclosed\": tru"}`; string(b) != want || resp.StatusCode != 200 {
		t.Fatalf("got %d %s, want 200 %s", resp.StatusCode, b, want)
	}
}
