package connect

import (
	"errors"
	"net/http"

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
		if err := in.RevokeAt(r.Context(), h.client, endpoint, c); err != nil {
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
