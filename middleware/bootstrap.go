package middleware

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// Bootstrap answers the two calls the SDK makes in authenticate():
// GET /sdk/me (the user's integrations and connection states) and
// GET /sdk/integrations (the project's integrations). It needs a Principal in
// the context.
type Bootstrap struct {
	reg   integrations.Registry
	store tokens.Store
	meta  tokens.Metadata // nil: PATCH /sdk/me echoes, GET answers {}
}

// NewBootstrap returns the handlers over reg and store.
func NewBootstrap(reg integrations.Registry, store tokens.Store) (*Bootstrap, error) {
	if reg == nil || store == nil {
		return nil, errors.New("middleware: bootstrap: nil registry or store")
	}
	return &Bootstrap{reg: reg, store: store}, nil
}

type meCredential struct {
	ID             string            `json:"id"`
	Status         string            `json:"status"`
	Health         *meHealth         `json:"health,omitempty"`
	ProviderID     string            `json:"providerId,omitempty"`
	Configurations []meConfiguration `json:"configurations"`
}

// meHealth is a connection's tokens.Health, beside the SDK's VALID /
// INVALID status (a field the SDK does not read, so its parsing is unchanged).
type meHealth struct {
	State       string `json:"state"` // healthy, refresh_failing, needs_reauth, revoked
	Failures    int    `json:"failures,omitempty"`
	LastRefresh string `json:"lastRefresh,omitempty"` // RFC 3339
	LastError   string `json:"lastError,omitempty"`   // a stable code, never a secret
}

func healthOf(c *tokens.Connection) *meHealth {
	h := tokens.HealthOf(c)
	m := &meHealth{State: string(h.State), Failures: h.Failures, LastError: h.LastError}
	if !h.LastRefresh.IsZero() {
		m.LastRefresh = h.LastRefresh.UTC().Format(time.RFC3339)
	}
	return m
}

type meConfiguration struct {
	ID                  string         `json:"id"`
	ConnectCredentialID string         `json:"connectCredentialId"`
	IsDefault           bool           `json:"isDefault"`
	WorkflowSettings    map[string]any `json:"workflowSettings"`
	SharedSettings      map[string]any `json:"sharedSettings"`
	ConfigMeta          map[string]any `json:"configMeta"`
}

type meIntegration struct {
	Enabled             bool           `json:"enabled"`
	CredentialID        string         `json:"credentialId,omitempty"`
	CredentialStatus    string         `json:"credentialStatus,omitempty"`
	ProviderData        map[string]any `json:"providerData"`
	AllCredentials      []meCredential `json:"allCredentials"`
	ConfiguredWorkflows map[string]any `json:"configuredWorkflows"`
	SharedSettings      map[string]any `json:"sharedSettings"`
}

type meBody struct {
	Integrations map[string]*meIntegration `json:"integrations"`
	Meta         map[string]any            `json:"meta"`
	Resources    []any                     `json:"resources"`
	Project      map[string]any            `json:"project"`
}

// credentialStatus maps a connection's state to the SDK's VALID / INVALID.
func credentialStatus(c *tokens.Connection) string {
	if c.Active() {
		return "VALID"
	}
	return "INVALID"
}

// Me serves GET (and PATCH) /sdk/me. Every integration of the project is
// listed; connected ones are enabled, with one credential entry per
// connection. With a Metadata store (Config.Metadata), GET answers the
// user's stored "meta" and a PATCH's {"meta": {...}} is merged into it at
// the top level (a key set to null is removed) and stored; without one, a
// PATCH's meta is echoed back, not stored, and GET answers {}.
func (b *Bootstrap) Me(w http.ResponseWriter, r *http.Request) {
	p, ok := PrincipalFromContext(r.Context())
	if !ok {
		fail(w, errors.New("middleware: bootstrap mounted without auth"))
		return
	}
	body := meBody{Integrations: map[string]*meIntegration{}, Meta: map[string]any{}, Resources: []any{},
		Project: map[string]any{"id": p.Project}}
	var err error
	if r.Method == http.MethodPatch {
		var patch struct {
			Meta map[string]any `json:"meta"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&patch); err != nil {
			fail(w, response.New(http.StatusBadRequest, response.CodeBadRequest, "Body must be JSON: {\"meta\": {...}}."))
			return
		}
		if b.meta == nil {
			if patch.Meta != nil {
				body.Meta = patch.Meta
			}
		} else if body.Meta, err = b.patchMeta(r, p, patch.Meta); err != nil {
			fail(w, err)
			return
		}
	} else if b.meta != nil {
		if body.Meta, err = b.meta.Get(r.Context(), p.Project, p.User); err != nil {
			fail(w, errors.Join(tokens.ErrUnavailable, err))
			return
		}
	}
	ins, err := b.reg.List(r.Context(), p.Project)
	if err != nil {
		fail(w, err)
		return
	}
	for _, in := range ins {
		body.Integrations[in.Key()] = &meIntegration{ProviderData: map[string]any{}, AllCredentials: []meCredential{},
			ConfiguredWorkflows: map[string]any{}, SharedSettings: map[string]any{}}
	}
	conns, err := b.store.List(r.Context(), p.Project, p.User)
	if err != nil {
		fail(w, errors.Join(tokens.ErrUnavailable, err))
		return
	}
	for _, c := range conns { // ordered by integration, then creation: the first is the default
		mi := body.Integrations[c.Integration]
		if mi == nil {
			continue // an integration the project no longer has
		}
		if len(mi.AllCredentials) == 0 {
			mi.Enabled = c.Active()
			mi.CredentialID = c.ID
			mi.CredentialStatus = credentialStatus(c)
		}
		mi.AllCredentials = append(mi.AllCredentials, meCredential{
			ID: c.ID, Status: credentialStatus(c), Health: healthOf(c),
			Configurations: []meConfiguration{{ID: c.ID, ConnectCredentialID: c.ID, IsDefault: true,
				WorkflowSettings: map[string]any{}, SharedSettings: map[string]any{}, ConfigMeta: map[string]any{}}},
		})
	}
	response.WriteJSON(w, http.StatusOK, body)
}

// patchMeta merges patch into the user's stored metadata and stores it.
func (b *Bootstrap) patchMeta(r *http.Request, p Principal, patch map[string]any) (map[string]any, error) {
	meta, err := b.meta.Get(r.Context(), p.Project, p.User)
	if err != nil {
		return nil, errors.Join(tokens.ErrUnavailable, err)
	}
	for k, v := range patch {
		if v == nil {
			delete(meta, k)
		} else {
			meta[k] = v
		}
	}
	if err := b.meta.Put(r.Context(), p.Project, p.User, meta); err != nil {
		if errors.Is(err, tokens.ErrMetadataTooLarge) {
			return nil, response.New(http.StatusRequestEntityTooLarge, response.CodeRequestTooLarge, "User metadata is limited to 64 KiB of JSON.")
		}
		return nil, errors.Join(tokens.ErrUnavailable, err)
	}
	return meta, nil
}

type integrationItem struct {
	ID                string             `json:"id"`
	Type              string             `json:"type"`
	IsActive          bool               `json:"isActive"`
	Name              string             `json:"name"`
	BrandColor        string             `json:"brandColor"`
	Configs           []map[string]any   `json:"configs"`
	CustomIntegration *customIntegration `json:"customIntegration"`
}

type customIntegration struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
	Icon any    `json:"icon"`
}

// Integrations serves GET /sdk/integrations: the project's integrations.
func (b *Bootstrap) Integrations(w http.ResponseWriter, r *http.Request) {
	p, ok := PrincipalFromContext(r.Context())
	if !ok {
		fail(w, errors.New("middleware: bootstrap mounted without auth"))
		return
	}
	ins, err := b.reg.List(r.Context(), p.Project)
	if err != nil {
		fail(w, err)
		return
	}
	items := make([]integrationItem, 0, len(ins))
	for _, in := range ins {
		cfg := in.Config()
		it := integrationItem{ID: in.Key(), Type: cfg.Type, IsActive: true, Name: cfg.Name,
			Configs: []map[string]any{{"values": map[string]any{}}}}
		if cfg.Type == "custom" {
			id := cfg.ID
			if id == "" {
				id = in.Key()
			}
			it.ID = id
			it.CustomIntegration = &customIntegration{ID: id, Name: cfg.Name, Slug: in.Key()}
		}
		items = append(items, it)
	}
	response.WriteJSON(w, http.StatusOK, items)
}
