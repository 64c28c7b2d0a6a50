package tokens

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// RefreshIntent is the record of a refresh in flight (Connection.Refreshing):
// which refresh token it spends, and since when. It holds a hash of the
// refresh token, never the token.
//
// Why: with rotating refresh tokens, a holder that crashes after the
// provider answered and before its save leaves the store with a refresh
// token the provider has already spent. The next holder of the refresh lease
// finds the intent for that same token, knows the refresh was lost, and
// retries once with the same refresh token, which providers with a reuse
// grace period answer again; when the provider refuses (invalid_grant), the
// connection is marked StatusNeedsReauth with ReasonRefreshLost rather than
// a generic failure.
type RefreshIntent struct {
	// TokenHash is RefreshTokenHash of the refresh token being spent.
	TokenHash string `json:"token_hash"`
	// Since is when the refresh started.
	Since time.Time `json:"since"`
}

// Reasons a connection needs re-authorization (Connection.Reason).
const (
	// ReasonGrantRejected: the token endpoint refused the refresh token
	// (invalid_grant, unauthorized_client), or there is none.
	ReasonGrantRejected = "grant_rejected"
	// ReasonRefreshLost: a refresh was lost in a crash. A holder spent the
	// refresh token and died before saving what it got; retried with the
	// same refresh token, the provider refused it.
	ReasonRefreshLost = "refresh_lost"
)

// ErrRefreshLost: the connection's last refresh was lost in a crash and the
// provider refused to answer it again (see ReasonRefreshLost). Errors
// wrapping it wrap ErrReauthRequired too.
var ErrRefreshLost = errors.New("tokens: refresh lost in a crash")

// RefreshTokenHash returns the hex SHA-256 of a refresh token, as
// RefreshIntent.TokenHash holds it. An empty token hashes to "".
func RefreshTokenHash(refreshToken string) string {
	if refreshToken == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(refreshToken))
	return hex.EncodeToString(sum[:])
}

// lostRefresh reports whether base records a refresh in flight that spent
// refreshToken: the holder that recorded it did not save its result. Under
// the lease, any intent found is another holder's, stale.
func lostRefresh(base *Connection, refreshToken string) bool {
	return base.Refreshing != nil && refreshToken != "" &&
		base.Refreshing.TokenHash == RefreshTokenHash(refreshToken)
}

// markRefreshing saves base with an intent to spend refreshToken, and returns
// the saved copy (at its new version). It fails with the store's error,
// ErrConflict included; the caller re-reads then.
func (r *Refresher) markRefreshing(ctx context.Context, base *Connection, refreshToken string) (*Connection, error) {
	c := base.Clone()
	c.Refreshing = &RefreshIntent{TokenHash: RefreshTokenHash(refreshToken), Since: r.now().Round(0).UTC()}
	if err := r.store.Save(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}
