package tokens

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/oauth2"
)

// HealthState summarises whether a connection can be used.
type HealthState string

const (
	// HealthHealthy: active, and its last refresh (if any) succeeded.
	HealthHealthy HealthState = "healthy"
	// HealthRefreshFailing: active, but its last refreshes failed for a
	// transient reason (Health.Failures of them in a row); it may recover.
	HealthRefreshFailing HealthState = "refresh_failing"
	// HealthNeedsReauth: the grant is gone; the user must connect again.
	HealthNeedsReauth HealthState = "needs_reauth"
	// HealthRevoked: the connection was revoked (Connection.Reason is
	// ReasonRevoked): the user or the provider withdrew the grant.
	HealthRevoked HealthState = "revoked"
)

// ReasonRevoked is the Connection.Reason of a revoked connection.
const ReasonRevoked = "revoked"

// Health is a connection's state as an operator or a UI shows it. It holds
// no secret.
type Health struct {
	State HealthState
	// Failures counts the transient refresh failures in a row (zero when
	// healthy).
	Failures int
	// LastRefresh is when the access token was last obtained
	// (Credential.ObtainedAt); zero when unknown.
	LastRefresh time.Time
	// LastError is a stable code: an RFC 6749 error code ("invalid_grant"),
	// "http_<status>", "timeout", "network", "store_unavailable",
	// "refresh_failed", or Connection.Reason for a connection that needs
	// re-authorization. Empty when healthy.
	LastError string
}

// HealthOf returns c's health.
func HealthOf(c *Connection) Health {
	h := Health{State: HealthHealthy, Failures: c.Failures, LastRefresh: c.Credential.ObtainedAt, LastError: c.LastError}
	switch {
	case !c.Active() && c.Reason == ReasonRevoked:
		h.State = HealthRevoked
	case !c.Active():
		h.State = HealthNeedsReauth
		if c.Reason != "" {
			h.LastError = c.Reason
		}
	case c.Failures > 0:
		h.State = HealthRefreshFailing
	default:
		h.LastError = ""
	}
	return h
}

// ErrorCode returns a stable, log-safe code for a refresh error, as
// Health.LastError holds it: the token endpoint's RFC 6749 error code when
// it is a known one, else "http_<status>" for its answer, "timeout",
// "network", "store_unavailable" or "refresh_failed".
func ErrorCode(err error) string {
	if code, ok := retrieveCode(err); ok && knownErrorCodes[code] {
		return code
	}
	if code := httpCode(err); code != "" {
		return code
	}
	var ne net.Error
	switch {
	case errors.Is(err, ErrRefreshTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, ErrUnavailable):
		return "store_unavailable"
	case errors.As(err, &ne):
		return "network"
	}
	return "refresh_failed"
}

// httpCode returns "http_<status>" for a token endpoint's answer.
func httpCode(err error) string {
	if re := asRetrieve(err); re != nil && re.Response != nil {
		return fmt.Sprintf("http_%d", re.Response.StatusCode)
	}
	return ""
}

func asRetrieve(err error) *oauth2.RetrieveError {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re
	}
	return nil
}
