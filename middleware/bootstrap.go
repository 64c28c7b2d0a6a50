package middleware

import (
	"errors"
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
	// metadata keeps users' metadata (account.go); nil answers {} and
	// stores nothing.
	metadata MetadataStore
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
// connection. A PATCH's {"meta": {...}} is merged into the user's metadata
// (see userMeta).
func (b *Bootstrap) Me(w http.ResponseWriter, r *http.Request) {
	p, ok := PrincipalFromContext(r.Context())
	if !ok {
		fail(w, errors.New("middleware: bootstrap mounted without auth"))
		return
	}
	body := meBody{Integrations: map[string]*meIntegration{}, Meta: map[string]any{}, Resources: []any{},
		Project: map[string]any{"id": p.Project, "accessibleFeatures": AccessibleFeatures}}
	meta, err := b.userMeta(r, p)
	if err != nil {
		fail(w, err)
		return
	}
	body.Meta = meta
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
