package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// providerTimeout bounds one verification or revocation request.
const providerTimeout = 15 * time.Second

// guardedClient returns a client for calls to in's provider outside the
// proxy (verification, revocation): its transport is hosts' dial-time guard
// with the integration's AllowAddresses, as the proxy's is, it follows no
// redirect (the credential must not travel to another host), and it ignores
// HTTP_PROXY. Close its idle connections when done.
func guardedClient(in *integrations.Integration) (*http.Client, error) {
	guard, err := hosts.NewGuard(hosts.GuardConfig{Allow: in.AllowAddresses()})
	if err != nil {
		return nil, err
	}
	t, err := hosts.NewTransport(hosts.TransportConfig{Guard: guard})
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: t, Timeout: providerTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

// verifyAt runs the integration's verification request through a guarded client.
func verifyAt(r *http.Request, in *integrations.Integration, c *tokens.Connection) error {
	client, err := guardedClient(in)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	return in.Verify(r.Context(), client, c)
}

// revoker posts RFC 7009 revocation requests for deleted connections.
type revoker struct{ log *slog.Logger }

// revoke revokes c's grant at the integration's revocation endpoint
// (SchemeConfig.RevokeURL, expanded for c: Salesforce's
// "{instance_url}/services/oauth2/revoke", its host checked like a base
// URL's) and says what happened: "revoked", "failed" or "none". The token
// never reaches a log line.
func (rv revoker) revoke(r *http.Request, in *integrations.Integration, c *tokens.Connection) string {
	a := in.Config().Auth
	tok, hint := c.Credential.RefreshToken, "refresh_token"
	if tok == "" {
		tok, hint = c.Credential.AccessToken, "access_token"
	}
	endpoint, err := in.RevokeURL(c)
	if err != nil {
		rv.log.Warn("manage: revocation URL cannot be built for this connection; connection deleted without revoking", "integration", in.Key(), "err", err)
		return "failed"
	}
	if endpoint == "" || tok == "" {
		return "none"
	}
	if err := postRevocation(r.Context(), in, endpoint, a, tok, hint); err != nil {
		rv.log.Warn("manage: revocation failed; connection deleted anyway", "integration", in.Key(), "err", err)
		return "failed"
	}
	return "revoked"
}

func postRevocation(ctx context.Context, in *integrations.Integration, endpoint string, a integrations.SchemeConfig, tok, hint string) error {
	client, err := guardedClient(in)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	form := url.Values{"token": {tok}, "token_type_hint": {hint}}
	if a.AuthStyle == "params" {
		form.Set("client_id", a.ClientID)
		if a.ClientSecret != "" {
			form.Set("client_secret", a.ClientSecret)
		}
	}
	// The revocation outlives a caller that hangs up: a grant should not
	// survive a delete that was asked for.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), providerTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return errors.New("bad revocation URL")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if a.AuthStyle != "params" && a.ClientID != "" {
		req.SetBasicAuth(url.QueryEscape(a.ClientID), url.QueryEscape(a.ClientSecret))
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err // without the URL: it may carry nothing secret, but stays short
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revocation endpoint answered %d", resp.StatusCode)
	}
	return nil
}
