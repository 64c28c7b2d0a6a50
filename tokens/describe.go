package tokens

import (
	"context"
	"errors"
)

// DescribeError returns a description of err that is safe to log: for a
// token endpoint's error, its status and (only when it is one of RFC 6749's)
// its error code; for a transport failure, its kind; for a store's error,
// which sentinel it matches. It never includes a token endpoint's body or
// description, a code the endpoint made up (it may reflect the refresh token
// it was sent), or a store's own error text (a driver's may quote its DSN,
// password included). Use it wherever such an error is logged.
func DescribeError(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, ErrNotFound):
		return "store: connection not found"
	case errors.Is(err, ErrConflict):
		return "store: conflicting write"
	case errors.Is(err, ErrUnavailable):
		return "store unavailable"
	}
	return describe(err)
}
