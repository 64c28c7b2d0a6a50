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

// A Redactor replaces the secrets applied to a request, and their escaped
// forms, in what goes back to the caller: a streamed body, headers, text.
func ExampleRedactor() {
	r := response.NewRedactor("tok-3fa9c1d7", "key with/slash")
	body := strings.NewReader(`{"echo":"Bearer tok-3fa9c1d7","url":"/x?k=key+with%2Fslash"}`)
	out, _ := io.ReadAll(r.Reader(body))
	fmt.Println(string(out))

	h := http.Header{"Location": {"https://api.example/cb?token=tok-3fa9c1d7"}}
	r.Header(h)
	fmt.Println(h.Get("Location"))
	fmt.Println(r.String("upstream said: invalid key key%20with%2Fslash"))
	// Output:
	// {"echo":"Bearer [redacted]","url":"/x?k=[redacted]"}
	// https://api.example/cb?token=[redacted]
	// upstream said: invalid key [redacted]
}
