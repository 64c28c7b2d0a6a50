package connect

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// The official SDK's account routes (e2e/sdk/FINDINGS.md section 9), beside
// the connect routes:
//
//	POST   /projects/{p}/sdk/credentials          completeInstall: exchange a code the host app obtained
//	GET    /projects/{p}/sdk/credentials?integration=  getIntegrationAccount
//	GET    /projects/{p}/sdk/credentials/{id}     the headless install reads the new credential
//	DELETE /projects/{p}/sdk/integrations/{id}    uninstallIntegration (the disconnect route's logic)
//	GET    /ui                                    the SDK's iframe (sdkportal.go)
//	...    /projects/{p}/sdk/actions/...          the popup install (session.go)

// Error codes of the SDK's account routes.
const (
	// CodeAccountAuthNotAllowed (403): includeAccountAuth was asked for an
	// integration whose Config.AccountAuth entry is not on.
	CodeAccountAuthNotAllowed response.Code = "ACCOUNT_AUTH_NOT_ALLOWED"
	// CodeExchangeFailed (400): the provider refused the authorization code
	// of completeInstall.
	CodeExchangeFailed response.Code = "CONNECT_EXCHANGE_FAILED"
)

// serveSDK serves the SDK's account routes and reports whether the path was one.
func (h *Handler) serveSDK(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.EscapedPath() == "/ui" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", http.MethodGet)
			response.WriteError(w, response.New(http.StatusMethodNotAllowed, response.CodeMethodNotAllowed, "Method not allowed on this route."))
			return true
		}
		h.sdkPortal(w, r)
		return true
	}
	rt, ok := parseRoute(r)
	if !ok || len(rt.rest) == 0 {
		return false
	}
	only := func(m string, serve func(http.ResponseWriter, *http.Request, route)) {
		if allowMethod(w, r, m) {
			serve(w, r, rt)
		}
	}
	switch rest := rt.rest; {
	case rest[0] == "credentials" && len(rest) == 1:
		switch r.Method {
		case http.MethodPost:
			h.completeInstall(w, r, rt)
		default:
			only(http.MethodGet, h.account)
		}
	case rest[0] == "credentials" && len(rest) == 2:
		only(http.MethodGet, h.credentialByID)
	case rest[0] == "integrations" && len(rest) == 2 && r.Method == http.MethodDelete:
		id, ok := segment(rest[1])
		if !ok {
			notFound(w)
			return true
		}
		rt.integration = id
		h.disconnect(w, r, rt)
	case rest[0] == "actions":
		h.serveActions(w, r, rt)
	default:
		return false
	}
	return true
}

// sdkCredential is a credential as the SDK reads it (updateCredentialData):
// the same ids as GET /sdk/me lists, one default configuration.
type sdkCredential struct {
	ID                  string             `json:"id"`
	IntegrationID       string             `json:"integrationId"`
	Integration         string             `json:"integration"`
	Status              string             `json:"status"`
	ProviderID          string             `json:"providerId"`
	ProviderData        map[string]any     `json:"providerData"`
	IsPreviewCredential bool               `json:"isPreviewCredential"`
	Configurations      []sdkConfiguration `json:"configurations"`
	// AccountAuth is set only when the host app allows it for the
	// integration (Config.AccountAuth) and the caller asked for it.
	AccountAuth *accountAuth `json:"accountAuth,omitempty"`
}

type sdkConfiguration struct {
	ID                  string         `json:"id"`
	ConnectCredentialID string         `json:"connectCredentialId"`
	IsDefault           bool           `json:"isDefault"`
	WorkflowSettings    map[string]any `json:"workflowSettings"`
	SharedSettings      map[string]any `json:"sharedSettings"`
	ConfigMeta          map[string]any `json:"configMeta"`
}

// accountAuth is the stored credential itself: only with Config.AccountAuth.
type accountAuth struct {
	AccessToken  string `json:"accessToken,omitempty"`
	TokenType    string `json:"tokenType,omitempty"`
	RefreshToken string `json:"refreshToken,omitempty"`
	ExpiresAt    string `json:"expiresAt,omitempty"`
	APIKey       string `json:"apiKey,omitempty"`
	Username     string `json:"username,omitempty"`
	Password     string `json:"password,omitempty"`
}

// sdkIntegrationID is the id GET /sdk/integrations gives an integration: a
// custom integration's id, otherwise its key.
func sdkIntegrationID(in *integrations.Integration) string {
	if cfg := in.Config(); cfg.Type == "custom" && cfg.ID != "" {
		return cfg.ID
	}
	return in.Key()
}

func (h *Handler) credentialJSON(c *tokens.Connection, in *integrations.Integration) sdkCredential {
	status := "INVALID"
	if c.Active() {
		status = "VALID"
	}
	id := c.Integration
	if in != nil {
		id = sdkIntegrationID(in)
	}
	return sdkCredential{ID: c.ID, IntegrationID: id, Integration: c.Integration, Status: status, ProviderData: map[string]any{},
		Configurations: []sdkConfiguration{{ID: c.ID, ConnectCredentialID: c.ID, IsDefault: true,
			WorkflowSettings: map[string]any{}, SharedSettings: map[string]any{}, ConfigMeta: map[string]any{}}}}
}

// account serves GET credentials?integration={key}&includeAccountAuth=: the
// user's connection of the integration (X-Paragon-Credential chooses one).
// The stored credential is included only when includeAccountAuth=true and
// Config.AccountAuth allows it for the integration.
func (h *Handler) account(w http.ResponseWriter, r *http.Request, rt route) {
	user, err := h.principal(r, rt)
	if err != nil {
		response.WriteError(w, err)
		return
	}
	q := r.URL.Query()
	ref := q.Get("integration")
	if ref == "" || strings.ContainsAny(ref, "/\\\x00") {
		response.WriteError(w, response.New(http.StatusBadRequest, response.CodeBadRequest, "Name the integration: ?integration=<type>."))
		return
	}
	in, err := h.integration(r.Context(), rt.project, ref)
	if err != nil {
		response.WriteError(w, err)
		return
	}
	withAuth := q.Get("includeAccountAuth") == "true"
	if withAuth && !h.acctAuth[in.Key()] {
		response.WriteError(w, response.New(http.StatusForbidden, CodeAccountAuthNotAllowed,
			"This integration's stored credential is not readable through the SDK (connect.Config.AccountAuth)."))
		return
	}
	id := r.Header.Get("X-Paragon-Credential")
	c, err := h.store.Get(r.Context(), tokens.Key{Project: rt.project, User: user, Integration: in.Key(), ID: id})
	if errors.Is(err, tokens.ErrNotFound) && id == "" {
		response.WriteError(w, response.Wrap(err, http.StatusBadRequest, response.CodeNotEnabled, response.MessageNotEnabled))
		return
	}
	if err != nil {
		response.WriteError(w, storeError(err))
		return
	}
	out := h.credentialJSON(c, in)
	if withAuth {
		cr := c.Credential
		out.AccountAuth = &accountAuth{AccessToken: cr.AccessToken, TokenType: cr.TokenType, RefreshToken: cr.RefreshToken,
			APIKey: cr.APIKey, Username: cr.Username, Password: cr.Password}
		if !cr.Expiry.IsZero() {
			out.AccountAuth.ExpiresAt = cr.Expiry.UTC().Format(time.RFC3339)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	response.WriteJSON(w, http.StatusOK, out)
}

// credentialByID serves GET credentials/{id}: one of the user's connections.
func (h *Handler) credentialByID(w http.ResponseWriter, r *http.Request, rt route) {
	user, err := h.principal(r, rt)
	if err != nil {
		response.WriteError(w, err)
		return
	}
	id, ok := segment(rt.rest[1])
	if !ok {
		notFound(w)
		return
	}
	conns, err := h.store.List(r.Context(), rt.project, user)
	if err != nil {
		response.WriteError(w, storeError(err))
		return
	}
	for _, c := range conns {
		if c.ID == id {
			in, _ := h.integration(r.Context(), rt.project, c.Integration)
			response.WriteJSON(w, http.StatusOK, h.credentialJSON(c, in))
			return
		}
	}
	response.WriteError(w, response.New(http.StatusNotFound, response.CodeCredentialNotFound, "No such connection."))
}

type completeRequest struct {
	Code          string `json:"code"`
	IntegrationID string `json:"integrationId"`
	RedirectURL   string `json:"redirectUrl"`
	// IntegrationOptions is the SDK's completeInstall option of that name,
	// passed through as is. Our extension: codeVerifier, the PKCE verifier
	// of a host app that sent a code_challenge with its authorization request.
	IntegrationOptions struct {
		CodeVerifier string `json:"codeVerifier"`
	} `json:"integrationOptions"`
}

// completeInstall serves POST credentials: the SDK's completeInstall. The
// host app ran the authorization step itself; the code is exchanged here
// (with the client secret, which never leaves the server) and the connection
// saved as the user's default one of the integration. redirectUrl must be the
// handler's redirect URI or lie under the project's ReturnURLs.
func (h *Handler) completeInstall(w http.ResponseWriter, r *http.Request, rt route) {
	user, err := h.principal(r, rt)
	if err != nil {
		response.WriteError(w, err)
		return
	}
	var body completeRequest
	if err := decodeBody(r, &body); err != nil {
		response.WriteError(w, err)
		return
	}
	if body.Code == "" || len(body.Code) > 4096 || body.IntegrationID == "" {
		response.WriteError(w, response.New(http.StatusBadRequest, response.CodeBadRequest,
			`Send {"code": "...", "integrationId": "...", "redirectUrl": "..."}.`))
		return
	}
	in, err := h.integration(r.Context(), rt.project, body.IntegrationID)
	if err != nil {
		response.WriteError(w, err)
		return
	}
	if method(in) != "oauth" {
		response.WriteError(w, errNotOAuth)
		return
	}
	redirect := h.RedirectURI(rt.project)
	if body.RedirectURL != "" && body.RedirectURL != redirect {
		ret, err := h.checkReturnURL(rt.project, body.RedirectURL)
		if err != nil || ret == h.PortalURL(rt.project) {
			response.WriteError(w, response.New(http.StatusBadRequest, response.CodeReturnURLNotAllowed,
				"redirectUrl is not among the project's allowed return URLs."))
			return
		}
		redirect = ret
	}
	verifier := body.IntegrationOptions.CodeVerifier
	if verifier != "" && (len(verifier) < 43 || len(verifier) > 128) {
		response.WriteError(w, response.New(http.StatusBadRequest, response.CodeBadRequest, "integrationOptions.codeVerifier must be 43 to 128 characters (RFC 7636)."))
		return
	}
	pending := &tokens.Connection{Project: rt.project, User: user, Integration: in.Key(), Fields: map[string]string{}}
	tok, err := in.Exchange(r.Context(), h.client, pending, body.Code, redirect, verifier)
	if err != nil {
		h.log.Warn("connect: completeInstall code exchange failed", "project", rt.project, "integration", in.Key(),
			"err", tokens.DescribeError(err))
		response.WriteError(w, response.New(http.StatusBadRequest, CodeExchangeFailed, "The provider did not accept the authorization code."))
		return
	}
	fields := h.fields(in.Key(), tok)
	captured, err := in.TokenCaptures(tok, h.now())
	if err != nil {
		response.WriteError(w, response.Wrap(err, http.StatusBadRequest, CodeExchangeFailed, "The provider's answer lacks what the connection needs."))
		return
	}
	for k, v := range captured {
		fields[k] = v
	}
	cred := tokens.Credential{}.WithOAuth2Token(tok)
	cred.ObtainedAt = h.now().Round(0)
	c, err := h.upsert(r.Context(), tokens.Key{Project: rt.project, User: user, Integration: in.Key()}, cred, fields)
	if err != nil {
		response.WriteError(w, storeError(err))
		return
	}
	response.WriteJSON(w, http.StatusCreated, h.credentialJSON(c, in))
}

// segment decodes one path segment that names something.
func segment(s string) (string, bool) {
	v, err := url.PathUnescape(s)
	if err != nil || v == "" || len(v) > 256 || strings.ContainsAny(v, "/\\\x00") {
		return "", false
	}
	return v, true
}
