package main

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// connectionView is a connection as the management API answers it: which
// credential fields are set, never their values.
type connectionView struct {
	Project     string            `json:"project"`
	User        string            `json:"user"`
	Integration string            `json:"integration"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Reason      string            `json:"reason,omitempty"`
	Health      healthView        `json:"health"`
	Credential  credentialView    `json:"credential"`
	Fields      map[string]string `json:"fields"`
	Version     int64             `json:"version"`
	CreatedAt   time.Time         `json:"createdAt"`
	UpdatedAt   time.Time         `json:"updatedAt"`
}

type healthView struct {
	State       string     `json:"state"`
	Failures    int        `json:"failures"`
	LastRefresh *time.Time `json:"lastRefresh,omitempty"`
	LastError   string     `json:"lastError,omitempty"`
}

type credentialView struct {
	// Set names the credential fields that hold a value:
	// accessToken, refreshToken, apiKey, username, password.
	Set        []string   `json:"set"`
	TokenType  string     `json:"tokenType,omitempty"`
	ExpiresAt  *time.Time `json:"expiresAt,omitempty"`
	ObtainedAt *time.Time `json:"obtainedAt,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func viewOf(c *tokens.Connection) connectionView {
	cr := c.Credential
	set := []string{}
	for _, f := range []struct {
		name, v string
	}{{"accessToken", cr.AccessToken}, {"refreshToken", cr.RefreshToken}, {"apiKey", cr.APIKey}, {"username", cr.Username}, {"password", cr.Password}} {
		if f.v != "" {
			set = append(set, f.name)
		}
	}
	status := string(c.Status)
	if status == "" {
		status = string(tokens.StatusActive)
	}
	h := tokens.HealthOf(c)
	fields := c.Fields
	if fields == nil {
		fields = map[string]string{}
	}
	return connectionView{Project: c.Project, User: c.User, Integration: c.Integration, ID: c.ID, Status: status, Reason: c.Reason,
		Health:     healthView{State: string(h.State), Failures: h.Failures, LastRefresh: timePtr(h.LastRefresh), LastError: h.LastError},
		Credential: credentialView{Set: set, TokenType: cr.TokenType, ExpiresAt: timePtr(cr.Expiry), ObtainedAt: timePtr(cr.ObtainedAt)},
		Fields:     fields, Version: c.Version, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
}

// importRequest creates a connection from a credential obtained elsewhere
// (a user moved from another platform keeps their grant).
type importRequest struct {
	Integration string            `json:"integration"`
	ID          string            `json:"id,omitempty"`
	Credential  importCredential  `json:"credential"`
	Fields      map[string]string `json:"fields,omitempty"`
}

type importCredential struct {
	AccessToken  string    `json:"accessToken,omitempty"`
	RefreshToken string    `json:"refreshToken,omitempty"`
	TokenType    string    `json:"tokenType,omitempty"`
	ExpiresAt    time.Time `json:"expiresAt,omitzero"`
	ObtainedAt   time.Time `json:"obtainedAt,omitzero"`
	APIKey       string    `json:"apiKey,omitempty"`
	Username     string    `json:"username,omitempty"`
	Password     string    `json:"password,omitempty"`
}

func badRequest(msg string) error {
	return response.New(http.StatusBadRequest, response.CodeBadRequest, msg)
}

// integration finds a configured integration of the route's project.
func (m *manager) integration(r *http.Request, name string) (*integrations.Integration, error) {
	in, err := m.reg.Lookup(r.Context(), r.PathValue("project"), integrations.Ref{Name: name})
	if err != nil || in == nil {
		return nil, response.New(http.StatusNotFound, response.CodeIntegrationNotFound,
			"Unknown integration for this project; use its key as in the config, such as \"salesforce\" or \"custom.<slug>\".")
	}
	return in, nil
}

// checkCredential requires what the integration's scheme applies.
func checkCredential(in *integrations.Integration, c importCredential) error {
	switch in.AuthType() {
	case integrations.AuthOAuth2:
		if c.AccessToken == "" && c.RefreshToken == "" {
			return badRequest("An OAuth2 integration needs credential.accessToken or credential.refreshToken (with only a refresh token, the first call refreshes).")
		}
	case integrations.AuthClientCredentials:
		if c.AccessToken == "" {
			return badRequest("A client-credentials integration needs credential.accessToken.")
		}
	case integrations.AuthAPIKey:
		if c.APIKey == "" {
			return badRequest("An API-key integration needs credential.apiKey.")
		}
	case integrations.AuthBasic:
		if c.Username == "" {
			return badRequest("A basic-auth integration needs credential.username (and usually password).")
		}
	}
	return nil
}

func (m *manager) importConnection(w http.ResponseWriter, r *http.Request) {
	var req importRequest
	if err := decode(w, r, &req); err != nil {
		m.fail(w, r, "import", err)
		return
	}
	if req.Integration == "" {
		m.fail(w, r, "import", badRequest("integration is required."))
		return
	}
	in, err := m.integration(r, req.Integration)
	if err != nil {
		m.fail(w, r, "import", err)
		return
	}
	if err := checkCredential(in, req.Credential); err != nil {
		m.fail(w, r, "import", err)
		return
	}
	cr := req.Credential
	c := &tokens.Connection{Project: r.PathValue("project"), User: r.PathValue("user"), Integration: in.Key(), ID: req.ID,
		Credential: tokens.Credential{AccessToken: cr.AccessToken, RefreshToken: cr.RefreshToken, TokenType: cr.TokenType,
			Expiry: cr.ExpiresAt, ObtainedAt: cr.ObtainedAt, APIKey: cr.APIKey, Username: cr.Username, Password: cr.Password},
		Fields: req.Fields, Status: tokens.StatusActive}
	if _, err := in.BaseURL(c); err != nil {
		// A base URL template needs a field the import did not give
		// (Salesforce's instance_url): every proxied call would fail.
		var mf *integrations.MissingFieldError
		if errors.As(err, &mf) {
			m.fail(w, r, "import", badRequest("fields."+mf.Name+" is required: this integration's base URL takes {"+mf.Name+"}."))
			return
		}
		m.fail(w, r, "import", badRequest("fields do not make a valid base URL for this integration."))
		return
	}
	if err := m.store.Save(r.Context(), c); err != nil {
		if errors.Is(err, tokens.ErrConflict) {
			err = response.New(http.StatusConflict, codeConnectionExists, "A connection with this id exists; delete it first or choose another id.")
		}
		m.fail(w, r, "import", err)
		return
	}
	m.log.Info("manage: connection imported", "project", c.Project, "user", c.User, "integration", c.Integration, "id", c.ID)
	w.Header().Set("Location", manageBase+"/projects/"+url.PathEscape(c.Project)+"/users/"+url.PathEscape(c.User)+
		"/connections/"+url.PathEscape(c.Integration)+"/"+url.PathEscape(c.ID))
	response.WriteJSON(w, http.StatusCreated, viewOf(c))
}

// cursor is the position after which a page starts: List's order key of
// the page's last connection. It is sent base64url-encoded, opaque to the
// caller; a connection created or deleted between pages does not shift the
// others.
type cursor struct {
	Integration string    `json:"i"`
	CreatedAt   time.Time `json:"c"`
	ID          string    `json:"d"`
}

func (c cursor) after(x *tokens.Connection) bool {
	return cmp.Or(cmp.Compare(x.Integration, c.Integration), x.CreatedAt.Compare(c.CreatedAt), cmp.Compare(x.ID, c.ID)) > 0
}

const (
	defaultPageSize = 50
	maxPageSize     = 200
)

type listAnswer struct {
	Connections []connectionView `json:"connections"`
	NextCursor  string           `json:"nextCursor,omitempty"`
}

func (m *manager) listConnections(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		m.fail(w, r, "list", badRequest("The query string is malformed."))
		return
	}
	limit := defaultPageSize
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			m.fail(w, r, "list", badRequest("limit must be an integer from 1 to 200."))
			return
		}
		limit = n
	}
	var after *cursor
	if s := q.Get("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		var c cursor
		if err != nil || json.Unmarshal(b, &c) != nil {
			m.fail(w, r, "list", badRequest("cursor is not one this API returned; start again without it."))
			return
		}
		after = &c
	}
	conns, err := m.store.List(r.Context(), r.PathValue("project"), r.PathValue("user"))
	if err != nil {
		m.fail(w, r, "list", err)
		return
	}
	ans := listAnswer{Connections: []connectionView{}}
	for _, c := range conns {
		if after != nil && !after.after(c) {
			continue
		}
		if len(ans.Connections) == limit {
			last := ans.Connections[limit-1]
			b, _ := json.Marshal(cursor{Integration: last.Integration, CreatedAt: last.CreatedAt, ID: last.ID})
			ans.NextCursor = base64.RawURLEncoding.EncodeToString(b)
			break
		}
		ans.Connections = append(ans.Connections, viewOf(c))
	}
	response.WriteJSON(w, http.StatusOK, ans)
}

// load reads the connection the route names.
func (m *manager) load(r *http.Request) (*tokens.Connection, error) {
	k := tokens.Key{Project: r.PathValue("project"), User: r.PathValue("user"), Integration: r.PathValue("integration"), ID: r.PathValue("id")}
	c, err := m.store.Get(r.Context(), k)
	if errors.Is(err, tokens.ErrNotFound) {
		return nil, response.New(http.StatusNotFound, codeConnectionNotFound, "No such connection of this user.")
	}
	return c, err
}

func (m *manager) getConnection(w http.ResponseWriter, r *http.Request) {
	c, err := m.load(r)
	if err != nil {
		m.fail(w, r, "get", err)
		return
	}
	response.WriteJSON(w, http.StatusOK, viewOf(c))
}

// deleteAnswer says what a delete did at the provider: "revoked",
// "failed" (deleted here anyway), or "none" (the integration has no
// revocation endpoint, or the credential no token).
type deleteAnswer struct {
	Deleted    bool   `json:"deleted"`
	Revocation string `json:"revocation"`
}

func (m *manager) deleteConnection(w http.ResponseWriter, r *http.Request) {
	c, err := m.load(r)
	if err != nil {
		m.fail(w, r, "delete", err)
		return
	}
	revocation := "none"
	if in, err := m.integration(r, c.Integration); err == nil {
		revocation = m.revoke(r, in, c)
	}
	if err := m.store.Delete(r.Context(), c.Key()); err != nil && !errors.Is(err, tokens.ErrNotFound) {
		m.fail(w, r, "delete", err)
		return
	}
	m.log.Info("manage: connection deleted", "project", c.Project, "user", c.User, "integration", c.Integration, "id", c.ID, "revocation", revocation)
	response.WriteJSON(w, http.StatusOK, deleteAnswer{Deleted: true, Revocation: revocation})
}

// verifyAnswer is a verification's result: ok, or the provider's status.
type verifyAnswer struct {
	OK             bool `json:"ok"`
	ProviderStatus int  `json:"providerStatus,omitempty"`
}

func (m *manager) verifyConnection(w http.ResponseWriter, r *http.Request) {
	c, err := m.load(r)
	if err != nil {
		m.fail(w, r, "verify", err)
		return
	}
	in, err := m.integration(r, c.Integration)
	if err != nil {
		m.fail(w, r, "verify", err)
		return
	}
	err = m.verify(r, in, c)
	var ve *integrations.VerifyError
	switch {
	case err == nil:
		response.WriteJSON(w, http.StatusOK, verifyAnswer{OK: true})
	case errors.As(err, &ve):
		response.WriteJSON(w, http.StatusOK, verifyAnswer{OK: false, ProviderStatus: ve.Status})
	case errors.Is(err, integrations.ErrNoVerification):
		m.fail(w, r, "verify", response.New(http.StatusConflict, codeNoVerification, "This integration has no verify request in its config."))
	default:
		m.log.Warn("manage: verification failed", "integration", c.Integration, "err", err)
		m.fail(w, r, "verify", response.Wrap(err, http.StatusBadGateway, codeVerifyFailed, "The provider could not be reached for the verification."))
	}
}

type metadataBody struct {
	Meta map[string]any `json:"meta"`
}

func (m *manager) getMetadata(w http.ResponseWriter, r *http.Request) {
	meta, err := m.meta.Get(r.Context(), r.PathValue("project"), r.PathValue("user"))
	if err != nil {
		m.fail(w, r, "metadata.get", err)
		return
	}
	response.WriteJSON(w, http.StatusOK, metadataBody{Meta: meta})
}

func (m *manager) putMetadata(w http.ResponseWriter, r *http.Request) {
	var body metadataBody
	if err := decode(w, r, &body); err != nil {
		m.fail(w, r, "metadata.put", err)
		return
	}
	if body.Meta == nil {
		m.fail(w, r, "metadata.put", badRequest(`The body must be {"meta": {...}}; {"meta": {}} clears it.`))
		return
	}
	if err := m.meta.Put(r.Context(), r.PathValue("project"), r.PathValue("user"), body.Meta); err != nil {
		if errors.Is(err, tokens.ErrMetadataTooLarge) {
			err = response.New(http.StatusRequestEntityTooLarge, response.CodeRequestTooLarge, "User metadata is limited to 64 KiB of JSON.")
		}
		m.fail(w, r, "metadata.put", err)
		return
	}
	response.WriteJSON(w, http.StatusOK, body)
}
