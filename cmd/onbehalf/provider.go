package main

import (
	"log/slog"
	"net/http"
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

// revoker revokes the grants of deleted connections.
type revoker struct{ log *slog.Logger }

// revoke revokes c's grant at the integration's revocation endpoint
// (SchemeConfig.RevokeURL, expanded for c: Salesforce's
// "{instance_url}/services/oauth2/revoke", its host checked like a base
// URL's) in its style (SchemeConfig.RevokeStyle), through
// (*integrations.Integration).RevokeAt, and says what happened: "revoked",
// "failed" or "none". The token never reaches a log line.
func (rv revoker) revoke(r *http.Request, in *integrations.Integration, c *tokens.Connection) string {
	endpoint, err := in.RevokeURL(c)
	if err != nil {
		rv.log.Warn("manage: revocation URL cannot be built for this connection; connection deleted without revoking", "integration", in.Key(), "err", err)
		return "failed"
	}
	tok := c.Credential.AccessToken
	if in.Config().Auth.RevokeStyle != integrations.RevokeBearer && c.Credential.RefreshToken != "" {
		tok = c.Credential.RefreshToken
	}
	if endpoint == "" || tok == "" {
		return "none"
	}
	client, err := guardedClient(in)
	if err == nil {
		defer client.CloseIdleConnections()
		err = in.RevokeAt(r.Context(), client, endpoint, c)
	}
	if err != nil {
		rv.log.Warn("manage: revocation failed; connection deleted anyway", "integration", in.Key(), "err", err)
		return "failed"
	}
	return "revoked"
}
