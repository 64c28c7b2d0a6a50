package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// disconnect serves DELETE connect/{integration}: it revokes the grant at the
// provider when the integration has a revocation URL (Config.RevocationURLs,
// else the integration's auth.revokeUrl), then deletes the
// connection (X-Paragon-Credential or ?credentialId= names one; otherwise the
// default one). Revocation is best effort: a provider that fails is logged and
// the connection is deleted anyway, so the user is never stuck connected.
func (h *Handler) disconnect(w http.ResponseWriter, r *http.Request, rt route) {
	user, in, err := h.userIntegration(r, rt)
	if err != nil {
		response.WriteError(w, err)
		return
	}
	id := r.Header.Get("X-Paragon-Credential")
	if id == "" {
		id = r.URL.Query().Get("credentialId")
	}
	c, err := h.store.Get(r.Context(), tokens.Key{Project: rt.project, User: user, Integration: in.Key(), ID: id})
	if errors.Is(err, tokens.ErrNotFound) && id == "" {
		response.WriteError(w, response.Wrap(err, http.StatusBadRequest, response.CodeNotEnabled, response.MessageNotEnabled))
		return
	}
	if err != nil {
		response.WriteError(w, storeError(err))
		return
	}
	endpoint := h.revoke[in.Key()]
	if endpoint == "" {
		// The integration's own revocation endpoint, expanded for this
		// connection (a per-tenant host) and its host checked.
		if endpoint, err = in.RevokeURL(c); err != nil {
			h.log.Warn("connect: no revocation: the revocation URL could not be built for the connection",
				"connection", c.Key().String(), "err", safeFlowError(err))
			endpoint = ""
		}
	}
	if endpoint != "" {
		if err := h.revokeAt(r.Context(), endpoint, in, c.Credential); err != nil {
			h.log.Warn("connect: revocation failed; deleting the connection anyway",
				"connection", c.Key().String(), "err", err)
		}
	}
	switch err := h.store.Delete(r.Context(), c.Key()); {
	case errors.Is(err, tokens.ErrNotFound): // deleted meanwhile: its deleter tells
	case err != nil:
		response.WriteError(w, storeError(err))
		return
	default:
		h.deleted(r.Context(), c)
	}
	w.WriteHeader(http.StatusNoContent)
}

// revokeAt posts an RFC 7009 revocation request with the client's credentials.
// Its error never holds the token.
func (h *Handler) revokeAt(ctx context.Context, endpoint string, in *integrations.Integration, cred tokens.Credential) error {
	tok, hint := cred.RefreshToken, "refresh_token"
	if tok == "" {
		tok, hint = cred.AccessToken, "access_token"
	}
	if tok == "" {
		return nil
	}
	a := in.Config().Auth
	form := url.Values{"token": {tok}, "token_type_hint": {hint}}
	if a.AuthStyle == "params" {
		form.Set("client_id", a.ClientID)
		if a.ClientSecret != "" {
			form.Set("client_secret", a.ClientSecret)
		}
	}
	// Revocation runs on after the caller leaves: the grant should not outlive
	// a disconnect the user asked for.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return errors.New("connect: bad revocation URL")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if a.AuthStyle != "params" {
		req.SetBasicAuth(url.QueryEscape(a.ClientID), url.QueryEscape(a.ClientSecret))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("connect: revocation request failed: %w", errors.Unwrap(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("connect: revocation endpoint answered %d", resp.StatusCode)
	}
	return nil
}
