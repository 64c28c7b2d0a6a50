package tokens

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"golang.org/x/oauth2"
)

// Errors of the Refresher, wrapped with the connection's key; test them with
// errors.Is. Their texts never hold a token or a token endpoint's body.
var (
	// ErrReauthRequired: the connection's grant is gone (revoked, expired, no
	// refresh token) and the user must connect again. The connection is
	// saved with StatusNeedsReauth.
	ErrReauthRequired = errors.New("tokens: connection needs re-authorization")
	// ErrRefreshFailed: a transient failure (network, 5xx, a bad answer from
	// the token endpoint). Errors wrapping ErrRefreshTimeout and
	// *CooldownError match it too, so test those first when they matter.
	ErrRefreshFailed = errors.New("tokens: refresh failed")
	// ErrRefreshTimeout: the refresh (lock wait, token request and save)
	// did not finish within the Refresher's Timeout.
	ErrRefreshTimeout = errors.New("tokens: refresh timed out")
)

// CooldownError is returned, without a token request, while a connection is
// cooling down after a transient refresh failure. It matches ErrRefreshFailed
// with errors.Is.
type CooldownError struct {
	// RetryAfter is how long the cooldown still lasts.
	RetryAfter time.Duration
	// Key names the connection.
	Key Key
}

// Error implements error.
func (e *CooldownError) Error() string {
	return fmt.Sprintf("%s: %s: cooling down after a failed refresh, retry after %s",
		ErrRefreshFailed, e.Key, e.RetryAfter.Round(time.Millisecond))
}

// Is reports whether target is ErrRefreshFailed.
func (e *CooldownError) Is(target error) bool { return target == ErrRefreshFailed }

// refreshError carries a message made only of safe parts (sentinels, the key,
// a sanitized detail) and unwraps to its sentinels and its cause. The cause's
// own text, which may hold a token endpoint's body, is never part of Error().
type refreshError struct {
	msg  string
	errs []error
}

func (e *refreshError) Error() string   { return e.msg }
func (e *refreshError) Unwrap() []error { return e.errs }

// newRefreshError returns an error whose text is kind's, the key and detail,
// and which unwraps to kind, the extra sentinels and cause (when not nil).
func newRefreshError(kind error, k Key, detail string, cause error, extra ...error) error {
	errs := append([]error{kind}, extra...)
	if cause != nil {
		errs = append(errs, cause)
	}
	return &refreshError{msg: kind.Error() + ": " + k.String() + ": " + detail, errs: errs}
}

// timeoutError is ErrRefreshTimeout (which matches ErrRefreshFailed too).
func timeoutError(k Key, detail string, cause error) error {
	return newRefreshError(ErrRefreshTimeout, k, detail, cause, ErrRefreshFailed)
}

// knownErrorCodes are the token-endpoint error codes that may be quoted in
// errors and logs: those of RFC 6749 section 5.2 and its common extensions.
// Anything else is not repeated, because an endpoint may reflect what it was
// sent (a refresh token) in its "error" field.
var knownErrorCodes = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true,
	"unauthorized_client": true, "unsupported_grant_type": true, "invalid_scope": true,
	"access_denied": true, "server_error": true, "temporarily_unavailable": true,
	"invalid_token": true, "expired_token": true, "slow_down": true, "authorization_pending": true,
}

// retrieveCode returns err's RFC 6749 error code if err is an
// *oauth2.RetrieveError.
func retrieveCode(err error) (string, bool) {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return "", false
	}
	return re.ErrorCode, true
}

// isReauth reports whether a Grant's error means the grant is gone.
func isReauth(err error) bool {
	if errors.Is(err, ErrReauthRequired) {
		return true
	}
	code, _ := retrieveCode(err)
	return code == "invalid_grant" || code == "unauthorized_client"
}

// isTimeout reports whether err, or ctx's state, says the deadline hit.
func isTimeout(ctx context.Context, err error) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// describe returns a log-safe description of a Grant's error: the token
// endpoint's status and error code, or the kind of transport failure; never
// the endpoint's body, description or the cause's own text.
func describe(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		s := "token endpoint answered"
		if re.Response != nil {
			s += fmt.Sprintf(" %d", re.Response.StatusCode)
		}
		if knownErrorCodes[re.ErrorCode] {
			s += fmt.Sprintf(" %q", re.ErrorCode)
		}
		return s
	}
	if errors.Is(err, ErrReauthRequired) {
		return "no usable refresh token"
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return "token request timed out"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "token request failed: " + oe.Error() // addresses and syscall errors only
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return "token request failed: " + de.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "token request failed (" + ue.Op + ")"
	}
	// x/oauth2's own errors about the answer (missing access_token,
	// unparsable body), or a custom Grant's.
	return "no usable token from the token endpoint"
}
