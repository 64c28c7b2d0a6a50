package integrations

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/onbehalf/onbehalf/tokens"
)

// The revocation styles of auth.revokeStyle.
const (
	// RevokeRFC7009 posts the refresh token (else the access token) as an
	// RFC 7009 form, with the client authenticated as at the token endpoint
	// (auth.authStyle).
	RevokeRFC7009 = "rfc7009"
	// RevokeBearer calls auth.revokeUrl with the access token as
	// "Authorization: Bearer" and no body, with auth.revokeMethod (POST or
	// DELETE): Slack's auth.revoke, Dropbox's auth/token/revoke, Zendesk's
	// DELETE oauth/tokens/current.json. The token revokes itself.
	RevokeBearer = "bearer"
)

// revokeTimeout bounds one revocation request.
const revokeTimeout = 15 * time.Second

// Revoke revokes c's grant at the integration's revocation endpoint
// (RevokeURL(c)) in its style (auth.revokeStyle). It does nothing and
// returns nil when the integration has no revocation endpoint or c no token
// to revoke. See RevokeAt.
func (in *Integration) Revoke(ctx context.Context, client *http.Client, c *tokens.Connection) error {
	endpoint, err := in.RevokeURL(c)
	if err != nil || endpoint == "" {
		return err
	}
	return in.RevokeAt(ctx, client, endpoint, c)
}

// RevokeAt revokes c's grant at endpoint (an override of auth.revokeUrl, or
// its expansion) in the integration's revocation style. The request outlives
// a cancelled ctx (a grant should not survive a disconnect that was asked
// for), bounded by 15 seconds. Any 2xx answer is success. Its error never
// holds a token, a client secret or the endpoint's URL.
func (in *Integration) RevokeAt(ctx context.Context, client *http.Client, endpoint string, c *tokens.Connection) error {
	if client == nil {
		client = http.DefaultClient
	}
	a := in.cfg.Auth
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeTimeout)
	defer cancel()
	var req *http.Request
	var err error
	switch a.RevokeStyle {
	case RevokeBearer:
		tok := c.Credential.AccessToken
		if tok == "" {
			return nil
		}
		method := a.RevokeMethod
		if method == "" {
			method = http.MethodPost
		}
		if req, err = http.NewRequestWithContext(ctx, method, endpoint, nil); err != nil {
			return errors.New("integrations: bad revocation URL")
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	default:
		tok, hint := c.Credential.RefreshToken, "refresh_token"
		if tok == "" {
			tok, hint = c.Credential.AccessToken, "access_token"
		}
		if tok == "" {
			return nil
		}
		form := url.Values{"token": {tok}, "token_type_hint": {hint}}
		if a.AuthStyle == "params" {
			form.Set("client_id", a.ClientID)
			if a.ClientSecret != "" {
				form.Set("client_secret", a.ClientSecret)
			}
		}
		if req, err = http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode())); err != nil {
			return errors.New("integrations: bad revocation URL")
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if a.AuthStyle != "params" && a.ClientID != "" {
			req.SetBasicAuth(url.QueryEscape(a.ClientID), url.QueryEscape(a.ClientSecret))
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return fmt.Errorf("integrations: revocation request failed: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("integrations: revocation endpoint answered %d", resp.StatusCode)
	}
	return nil
}
