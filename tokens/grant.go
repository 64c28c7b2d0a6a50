package tokens

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Grant obtains a new OAuth2 token for a connection from the provider's token
// endpoint. The Refresher calls it under its lock, at most once at a time per
// connection in a process.
//
// The HTTP client for the token endpoint comes from ctx, under the
// oauth2.HTTPClient key, as in golang.org/x/oauth2; the Refresher puts its
// configured client there. Token must honour ctx's deadline. The grants of
// this package never use a proxy from the environment (HTTP_PROXY,
// HTTPS_PROXY): without a client in ctx, or with one whose Transport is nil,
// they use a copy of http.DefaultTransport with Proxy nil.
//
// Errors: an error wrapping ErrReauthRequired, or an *oauth2.RetrieveError
// whose ErrorCode is "invalid_grant" or "unauthorized_client", means the
// grant is gone and the user must connect again; any other error is taken as
// transient. Implementations must be safe for concurrent use.
type Grant interface {
	Token(ctx context.Context, c *Connection) (*oauth2.Token, error)
}

var (
	_ Grant = RefreshTokenGrant{}
	_ Grant = ClientCredentialsGrant{}
)

// RefreshTokenGrant is the refresh_token grant (RFC 6749 section 6): it trades
// the connection's refresh token for a new access token, and a new refresh
// token if the provider rotates them.
type RefreshTokenGrant struct {
	// Config names the token endpoint and the client credentials; required.
	Config *oauth2.Config
}

// Token implements Grant. A connection without a refresh token gets an error
// wrapping ErrReauthRequired, without a request.
func (g RefreshTokenGrant) Token(ctx context.Context, c *Connection) (*oauth2.Token, error) {
	if g.Config == nil {
		return nil, errors.New("tokens: RefreshTokenGrant without Config")
	}
	rt := c.Credential.RefreshToken
	if rt == "" {
		return nil, fmt.Errorf("%w: %s has no refresh token", ErrReauthRequired, c.Key())
	}
	// An expired token makes the TokenSource refresh at once.
	expired := &oauth2.Token{RefreshToken: rt, Expiry: time.Unix(1, 0)}
	return g.Config.TokenSource(withDirectClient(ctx), expired).Token()
}

// ClientCredentialsGrant is the client_credentials grant (RFC 6749 section
// 4.4): the client authenticates as itself, with no user refresh token. The
// connection is not read.
type ClientCredentialsGrant struct {
	// Config names the token endpoint, client credentials and scopes; required.
	Config *clientcredentials.Config
}

// Token implements Grant.
func (g ClientCredentialsGrant) Token(ctx context.Context, _ *Connection) (*oauth2.Token, error) {
	if g.Config == nil {
		return nil, errors.New("tokens: ClientCredentialsGrant without Config")
	}
	return g.Config.Token(withDirectClient(ctx))
}
