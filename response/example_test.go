package response_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/onbehalf/onbehalf/response"
)

// WriteError renders any error as the JSON error body; unknown errors become
// 500 INTERNAL without their text.
func ExampleWriteError() {
	rec := httptest.NewRecorder()
	response.WriteError(rec, response.New(http.StatusForbidden, response.CodeHostNotAllowed, "This domain is invalid for the current integration"))
	fmt.Println(rec.Code, rec.Body.String())

	rec = httptest.NewRecorder()
	response.WriteError(rec, errors.New("pq: password authentication failed for user secret"))
	fmt.Println(rec.Code, rec.Body.String())
	// Output:
	// 403 {"message":"This domain is invalid for the current integration","code":"HOST_NOT_ALLOWED","status":403}
	// 500 {"message":"Internal error.","code":"INTERNAL","status":500}
}

// Modify wraps a JSON answer in the envelope the SDK unwraps.
func ExampleResponder_Modify() {
	rs, _ := response.NewResponder(response.Config{})
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"id":7}`))}
	_ = rs.Modify(resp)
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))

	resp = &http.Response{StatusCode: 404, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"message":"not found"}`))}
	_ = rs.Modify(resp)
	body, _ = io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// 200 {"output":{"id":7}}
	// 404 {"message":"not found","code":"INTEGRATION_ERROR","status":404,"meta":{"body":{"message":"not found"},"isIntegrationError":true,"status":404}}
}

func ExampleModeOf() {
	for _, v := range []string{"", "1", "true", "false"} {
		fmt.Printf("%q → %s\n", v, response.ModeOf(http.Header{response.RawHeader: {v}}))
	}
	// Output:
	// "" → json
	// "1" → raw
	// "true" → raw
	// "false" → json
}
