package integrations

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/tokens"
)

// AuthCodeRequest is what AuthCodeURL needs beside the integration.
type AuthCodeRequest struct {
	// RedirectURI is the connect handler's callback.
	RedirectURI string
	// State is the opaque state value.
	State string
	// Verifier is the PKCE code verifier (oauth2.GenerateVerifier); the
	// S256 challenge is sent unless auth.pkce is off.
	Verifier string
	// Reauth adds auth.reauthParams: the user connects again an account
	// already connected (Google's prompt=consent).
	Reauth bool
}

// ErrNotOAuth is returned by the OAuth methods for another scheme.
var ErrNotOAuth = errors.New("integrations: the integration does not use the OAuth2 authorization-code flow")

// AuthCodeURL returns the provider's authorization URL for a pending
// connection c, whose Fields hold the inputs: auth.authUrl expanded and its
// host checked, response_type=code, client_id, redirect_uri, the scopes in
// auth.scopeParam joined by auth.scopeSeparator, state, the PKCE challenge
// (unless auth.pkce is off), auth.authParams and, for a reconnect,
// auth.reauthParams.
func (in *Integration) AuthCodeURL(c *tokens.Connection, r AuthCodeRequest) (string, error) {
	a := &in.cfg.Auth
	if a.Type != AuthOAuth2 || in.flow.authURL == nil {
		return "", ErrNotOAuth
	}
	u, err := in.expandEndpoint(in.flow.authURL, c)
	if err != nil {
		return "", err
	}
	q := u.Query()
	set := func(params map[string]*template) error {
		for _, k := range sortedKeys(params) {
			v, err := params[k].expand(c, nil)
			if err != nil {
				return err
			}
			q.Set(k, v)
		}
		return nil
	}
	if err := set(in.flow.authParams); err != nil {
		return "", err
	}
	if r.Reauth {
		if err := set(in.flow.reauthParams); err != nil {
			return "", err
		}
	}
	q.Set("response_type", "code")
	q.Set("client_id", a.ClientID)
	q.Set("redirect_uri", r.RedirectURI)
	if len(a.Scopes) > 0 {
		sep := a.ScopeSeparator
		if sep == "" {
			sep = " "
		}
		q.Set(in.scopeParam(), strings.Join(a.Scopes, sep))
	}
	q.Set("state", r.State)
	if a.PKCE != PKCEOff {
		q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(r.Verifier))
		q.Set("code_challenge_method", "S256")
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// UsesPKCE reports whether the flow sends a PKCE challenge and verifier.
func (in *Integration) UsesPKCE() bool { return in.cfg.Auth.PKCE != PKCEOff }

// Exchange trades an authorization code for a token at auth.tokenUrl,
// expanded for the pending connection c (its inputs and callback captures)
// with its host checked. client is used for the token request (through
// tokens.DirectClient). Plain dialects go through x/oauth2; the others
// (templated endpoints, auth.tokenParams, a JSON body, auth.tokenPaths, a
// default lifetime) through tokens.PostToken. The token's Extra holds the
// answer for captures. Errors are as tokens.Grant's: log them only through
// tokens.DescribeError.
func (in *Integration) Exchange(ctx context.Context, client *http.Client, c *tokens.Connection, code, redirectURI, verifier string) (*oauth2.Token, error) {
	a := &in.cfg.Auth
	if a.Type != AuthOAuth2 || in.flow.tokenURL == nil {
		return nil, ErrNotOAuth
	}
	if in.flow.plain {
		cfg := *in.oauth
		cfg.RedirectURL = redirectURI
		var opts []oauth2.AuthCodeOption
		if verifier != "" && in.UsesPKCE() {
			opts = append(opts, oauth2.VerifierOption(verifier))
		}
		return cfg.Exchange(context.WithValue(ctx, oauth2.HTTPClient, tokens.DirectClient(client)), code, opts...)
	}
	params := map[string]string{"grant_type": "authorization_code", "code": code, "redirect_uri": redirectURI}
	if verifier != "" && in.UsesPKCE() {
		params["code_verifier"] = verifier
	}
	return in.postToken(ctx, client, c, in.flow.tokenURL, in.flow.tokenParams, params)
}

// postToken expands ep and extra for c and posts params through tokens.PostToken.
func (in *Integration) postToken(ctx context.Context, client *http.Client, c *tokens.Connection, ep *endpoint, extra map[string]*template, params map[string]string) (*oauth2.Token, error) {
	u, err := in.expandEndpoint(ep, c)
	if err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(extra) {
		v, err := extra[k].expand(c, nil)
		if err != nil {
			return nil, err
		}
		params[k] = v
	}
	a := &in.cfg.Auth
	return tokens.PostToken(ctx, client, tokens.TokenRequest{
		URL: u.String(), Params: params, ClientID: a.ClientID, ClientSecret: a.ClientSecret,
		AuthInParams: a.AuthStyle == "params", JSON: a.TokenBody == TokenBodyJSON,
		Paths: tokens.TokenPaths{AccessToken: a.TokenPaths.AccessToken, RefreshToken: a.TokenPaths.RefreshToken,
			ExpiresIn: a.TokenPaths.ExpiresIn, TokenType: a.TokenPaths.TokenType, Scope: a.TokenPaths.Scope,
			ExpiresAt: a.TokenPaths.ExpiresAt},
		DefaultLifetime: in.defaultLifetime(),
	})
}

// flowGrant is the Grant of a dialect x/oauth2 cannot speak: the refresh
// (or client-credentials) request built from the connection, its endpoint
// expanded per connection and its host checked at each use.
type flowGrant struct{ in *Integration }

var _ tokens.Grant = flowGrant{}

// Token implements tokens.Grant.
func (g flowGrant) Token(ctx context.Context, c *tokens.Connection) (*oauth2.Token, error) {
	in := g.in
	client, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	ep := in.flow.tokenURL
	if in.flow.refreshURL != nil {
		ep = in.flow.refreshURL
	}
	if in.cfg.Auth.Type == AuthClientCredentials {
		params := map[string]string{"grant_type": "client_credentials"}
		if len(in.cfg.Auth.Scopes) > 0 {
			params["scope"] = strings.Join(in.cfg.Auth.Scopes, " ")
		}
		return in.postToken(ctx, client, c, ep, in.flow.refreshParams, params)
	}
	rt := c.Credential.RefreshToken
	if rt == "" {
		return nil, fmt.Errorf("%w: %s has no refresh token", tokens.ErrReauthRequired, c.Key())
	}
	return in.postToken(ctx, client, c, ep, in.flow.refreshParams,
		map[string]string{"grant_type": "refresh_token", "refresh_token": rt})
}

// RevokeURL returns auth.revokeUrl expanded for c with its host checked, or
// "" when the integration has none.
func (in *Integration) RevokeURL(c *tokens.Connection) (string, error) {
	if in.flow.revokeURL == nil {
		return "", nil
	}
	u, err := in.expandEndpoint(in.flow.revokeURL, c)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// tokenValue reads a dotted path of a token answer (the token's Extra).
func tokenValue(tok *oauth2.Token, path string) (string, bool) {
	first, rest, nested := strings.Cut(path, ".")
	v := tok.Extra(first)
	if v == nil {
		return "", false
	}
	if vals, ok := v.(string); ok && !nested {
		return vals, vals != ""
	}
	if !nested {
		return tokens.ValueAt(map[string]any{"v": v}, "v")
	}
	return tokens.ValueAt(v, rest)
}
