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
	// HealthVerificationFailed: active and refreshing, but the
	// integration's verification request last failed (Health.LastError is
	// its code): the provider may have withdrawn a scope or disabled the
	// account. A later verification that passes makes it healthy again.
	HealthVerificationFailed HealthState = "verification_failed"
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
	// re-authorization, or the verification's code ("http_403", "network",
	// "timeout") when it failed. Empty when healthy.
	LastError string
	// LastUsed is when the connection last served a request the provider
	// accepted (Connection.LastUsed); zero when unknown.
	LastUsed time.Time
	// LastVerified is when the verification request last ran
	// (Connection.Verified); zero when never.
	LastVerified time.Time
}

// HealthOf returns c's health.
func HealthOf(c *Connection) Health {
	h := Health{State: HealthHealthy, Failures: c.Failures, LastRefresh: c.Credential.ObtainedAt, LastError: c.LastError,
		LastUsed: c.LastUsed, LastVerified: c.Verified}
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
	case c.VerifyError != "":
		h.State, h.LastError = HealthVerificationFailed, c.VerifyError
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

// RecordVerification saves on k's connection (k with its ID) that its
// verification ran at at and ended with code ("" when it passed; else a
// stable code such as "http_403"), compare-and-swap, re-reading on
// conflicts. It returns the connection's VerifyError before the save and the
// connection as saved. A connection that is no longer active is returned
// unchanged: its health is its status.
func RecordVerification(ctx context.Context, s Store, k Key, at time.Time, code string) (previous string, saved *Connection, err error) {
	for try := 1; ; try++ {
		if inv, ok := s.(Invalidator); ok && try > 1 {
			inv.Invalidate(ctx, k)
		}
		c, err := s.Get(ctx, k)
		if err != nil {
			return "", nil, err
		}
		if !c.Active() {
			return c.VerifyError, c, nil
		}
		previous = c.VerifyError
		c.Verified, c.VerifyError = at.Round(0).UTC(), code
		err = s.Save(ctx, c)
		if err == nil {
			return previous, c, nil
		}
		if !errors.Is(err, ErrConflict) || try == saveTries {
			return "", nil, err
		}
	}
}
