package response

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Code is a stable, machine-readable error code carried in the "code" field of
// every error body. Codes never change meaning once released; the README lists
// them all.
type Code string

// The codes of every error the proxy itself produces. CodeIntegrationError is
// the one code for errors the provider produced.
const (
	CodeTokenMissing        Code = "AUTH_TOKEN_MISSING"         // 401: no bearer user token
	CodeTokenInvalid        Code = "AUTH_TOKEN_INVALID"         // 401: signature, claims or format rejected
	CodeTokenExpired        Code = "AUTH_TOKEN_EXPIRED"         // 401: exp in the past (beyond skew)
	CodeProjectMismatch     Code = "AUTH_PROJECT_MISMATCH"      // 403: token verified for another project
	CodePermissionDenied    Code = "AUTH_PERMISSION_DENIED"     // 403: permissions claim forbids the call
	CodeProjectNotFound     Code = "PROJECT_NOT_FOUND"          // 404: unknown project id in the path
	CodeIntegrationNotFound Code = "INTEGRATION_NOT_FOUND"      // 404: unknown integration name, id or slug
	CodeNotEnabled          Code = "INTEGRATION_NOT_ENABLED"    // 400: the user has not connected the integration
	CodeCredentialNotFound  Code = "CREDENTIAL_NOT_FOUND"       // 404: X-Paragon-Credential names no connection of the user
	CodeReauthRequired      Code = "CONNECTION_REAUTH_REQUIRED" // 403: the provider revoked the grant; the user must reconnect
	CodeHostNotAllowed      Code = "HOST_NOT_ALLOWED"           // 403: target host outside the integration's permitted hosts
	CodeHostIPLiteral       Code = "HOST_IP_LITERAL"            // 403: target host given as an IP address
	CodeAddressDenied       Code = "HOST_ADDRESS_DENIED"        // 403: the name resolved to a denied (internal) address
	CodeTargetInvalid       Code = "TARGET_INVALID"             // 400: malformed target URL, scheme, port or userinfo
	CodePathInvalid         Code = "PATH_INVALID"               // 400: API path escapes the base path or is malformed
	CodeBadRequest          Code = "BAD_REQUEST"                // 400: malformed request (headers, body)
	CodeRequestTooLarge     Code = "REQUEST_TOO_LARGE"          // 413: request body over the configured limit
	CodeHeadersTooLarge     Code = "REQUEST_HEADERS_TOO_LARGE"  // 431: request headers over the configured limit
	CodeResponseTooLarge    Code = "RESPONSE_TOO_LARGE"         // 502: JSON-mode upstream body over the cap; use raw mode
	CodeUseRaw              Code = "USE_RAW_RESPONSE"           // 406: binary upstream body in JSON mode; use raw mode
	CodeUpstreamUnreachable Code = "UPSTREAM_UNREACHABLE"       // 502: connecting to the provider failed
	CodeUpstreamTimeout     Code = "UPSTREAM_TIMEOUT"           // 504: the provider did not answer in time
	CodeRefreshFailed       Code = "REFRESH_FAILED"             // 502: the token endpoint failed
	CodeRefreshCooldown     Code = "REFRESH_COOLDOWN"           // 503: a recent refresh failed; waiting before the next try
	CodeRefreshTimeout      Code = "REFRESH_TIMEOUT"            // 504: the token endpoint did not answer in time
	CodeStoreUnavailable    Code = "STORE_UNAVAILABLE"          // 503: the token store cannot be reached
	CodeRateLimited         Code = "RATE_LIMITED"               // 429: the connection used its provider rate limit (throttling)
	CodeUpstreamBusy        Code = "UPSTREAM_BUSY"              // 503: more proxied requests in flight than MaxConcurrent
	CodeUserQuotaExceeded   Code = "USER_QUOTA_EXCEEDED"        // 429: the user used the host app's quota for the integration
	CodeLimiterUnavailable  Code = "LIMITER_UNAVAILABLE"        // 503: the shared rate limiter cannot be reached (fail closed)
	CodeNotFound            Code = "NOT_FOUND"                  // 404: no such route
	CodeMethodNotAllowed    Code = "METHOD_NOT_ALLOWED"         // 405: route exists, method does not
	CodeInternal            Code = "INTERNAL"                   // 500: a bug or an unexpected failure
	CodeIntegrationError    Code = "INTEGRATION_ERROR"          // upstream status: the provider answered non-2xx

	// Connecting accounts (package connect).
	CodeConnectUnsupported   Code = "CONNECT_UNSUPPORTED"            // 400: the integration's auth scheme does not connect this way
	CodeReturnURLNotAllowed  Code = "CONNECT_RETURN_URL_NOT_ALLOWED" // 400: returnUrl outside the project's allowed return URLs
	CodeCredentialsRejected  Code = "CONNECT_CREDENTIALS_REJECTED"   // 400: the entered API key or password failed validation
	CodeConnectStateCapacity Code = "CONNECT_BUSY"                   // 503: the state store is full or failing; try again later
)

// ErrorSourceHeader names who produced an error response: "proxy" or
// "integration". It is set on every error the package writes.
const ErrorSourceHeader = "X-Onbehalf-Error-Source"

// ErrorCodeHeader carries the error's code on every error response, so a
// caller (or an access log) can branch on it without parsing the body.
const ErrorCodeHeader = "X-Onbehalf-Error-Code"

// Error is an error with its HTTP status, stable code and a message safe to show
// to the caller. Message and Meta are rendered into the body; Err, the cause, is
// kept for errors.Is/As and logs and is never rendered.
type Error struct {
	Status  int            // HTTP status; 0 means 500
	Code    Code           // stable code; "" means CodeInternal
	Message string         // shown to the caller; must hold no secret
	Meta    map[string]any // optional; rendered as "meta"
	// RetryAfter, when positive, is sent as a Retry-After header in whole seconds.
	RetryAfter time.Duration
	Err        error // optional cause; never rendered
}

// New returns an *Error with the given status, code and message.
func New(status int, code Code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Wrap returns an *Error with the given status, code and message whose cause is err.
func Wrap(err error, status int, code Code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message, Err: err}
}

// Error implements error. It names the code and the cause, never the meta.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("response: %s: %s: %v", e.code(), e.Message, e.Err)
	}
	return fmt.Sprintf("response: %s: %s", e.code(), e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) status() int {
	if e.Status < 400 || e.Status > 599 {
		return http.StatusInternalServerError
	}
	return e.Status
}

func (e *Error) code() Code {
	if e.Code == "" {
		return CodeInternal
	}
	return e.Code
}

// Body is the JSON error body of WIRE.md.
type Body struct {
	Message string         `json:"message"`
	Code    string         `json:"code"`
	Status  int            `json:"status"`
	Meta    map[string]any `json:"meta,omitempty"`
}

// IsIntegrationError reports whether the body describes an error the provider produced.
func (b Body) IsIntegrationError() bool {
	v, _ := b.Meta["isIntegrationError"].(bool)
	return v
}

// errClientGone is the status nginx made familiar for a client that went away.
const statusClientClosed = 499

// AsError maps any error to the *Error that describes it to a caller. It is the
// one place where an error gets its status and code:
//   - an *Error anywhere in the chain is used as it is;
//   - context.DeadlineExceeded becomes 504 UPSTREAM_TIMEOUT;
//   - context.Canceled (the client went away) becomes 499;
//   - anything else becomes 500 INTERNAL with a generic message, so that no
//     unexpected error text reaches a caller.
func AsError(err error) *Error {
	var e *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return e
	case errors.Is(err, context.DeadlineExceeded):
		return Wrap(err, http.StatusGatewayTimeout, CodeUpstreamTimeout, "The request timed out.")
	case errors.Is(err, context.Canceled):
		return Wrap(err, statusClientClosed, CodeBadRequest, "The request was canceled.")
	default:
		return Wrap(err, http.StatusInternalServerError, CodeInternal, "Internal error.")
	}
}

// WriteError writes err as the JSON error body with its status. Nothing of the
// cause is written. It must be called before anything else was written to w.
func WriteError(w http.ResponseWriter, err error) {
	e := AsError(err)
	if e == nil {
		e = New(http.StatusInternalServerError, CodeInternal, "Internal error.")
	}
	b := Body{Message: e.Message, Code: string(e.code()), Status: e.status(), Meta: e.Meta}
	source := "proxy"
	if b.IsIntegrationError() {
		source = "integration"
	}
	w.Header().Set(ErrorCodeHeader, b.Code)
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	writeJSON(w, b.Status, b, source)
}

// marshal is json.Marshal without HTML escaping: the proxy's bodies are
// served as application/json with nosniff, never rendered as HTML, so a
// message such as "Bearer <token>" reaches curl and logs as written rather
// than as "\u003ctoken\u003e".
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func writeJSON(w http.ResponseWriter, status int, v any, source string) {
	data, err := marshal(v)
	if err != nil { // only for unmarshalable meta; keep the answer well-formed
		data = []byte(`{"message":"Internal error.","code":"INTERNAL","status":500}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if source != "" {
		h.Set(ErrorSourceHeader, source)
	}
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// WriteJSON writes v as a JSON body with the given status. It is used for the
// proxy's own successful answers (the SDK bootstrap routes).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	writeJSON(w, status, v, "")
}
