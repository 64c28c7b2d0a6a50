package integrations

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
)

// catalogFiles holds the built-in integration definitions, one file per
// provider, named after its type: a Config plus "docs" (the provider's API
// documentation), "aliases" (other type names that select the entry) and
// "notes" (what a user must know: connection fields, auth quirks) and
// "sources" (the provider's pages each fact comes from, each with the date
// it was checked).
//
//go:embed catalog/*.json
var catalogFiles embed.FS

type catalogEntry struct {
	Config
	Docs    string   `json:"docs"`
	Aliases []string `json:"aliases,omitempty"`
	Notes   string   `json:"notes,omitempty"`
	Sources []string `json:"sources,omitempty"`
}

type catalogIndex struct {
	entries []catalogEntry           // sorted by Type
	byName  map[string]*catalogEntry // type names and aliases, and their lower-case forms
}

var loadCatalog = sync.OnceValues(func() (*catalogIndex, error) {
	return parseCatalog(catalogFiles)
})

// parseCatalog reads every catalog/*.json file of fsys: one entry each,
// whose type must equal the file's name.
func parseCatalog(fsys fs.FS) (*catalogIndex, error) {
	names, err := fs.Glob(fsys, "catalog/*.json")
	if err != nil {
		return nil, fmt.Errorf("integrations: catalog: %w", err)
	}
	var entries []catalogEntry
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("integrations: %s: %w", name, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var e catalogEntry
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("integrations: %s: %w", name, err)
		}
		if want := strings.TrimSuffix(path.Base(name), ".json"); e.Type != want {
			return nil, fmt.Errorf("integrations: %s: type %q must equal the file name %q", name, e.Type, want)
		}
		if _, err := newIntegration(e.Config, true); err != nil {
			return nil, fmt.Errorf("integrations: %s: %w", name, errors.Unwrap(err))
		}
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b catalogEntry) int { return strings.Compare(a.Type, b.Type) })
	idx := &catalogIndex{entries: entries, byName: map[string]*catalogEntry{}}
	// Exact names first, so a lower-case form never shadows an exact name.
	for i := range entries {
		e := &entries[i]
		for _, n := range append([]string{e.Type}, e.Aliases...) {
			if _, dup := idx.byName[n]; dup {
				return nil, fmt.Errorf("integrations: catalog: type name %q used twice", n)
			}
			idx.byName[n] = e
		}
	}
	for i := range entries {
		e := &entries[i]
		for _, n := range append([]string{e.Type}, e.Aliases...) {
			if _, ok := idx.byName[strings.ToLower(n)]; !ok {
				idx.byName[strings.ToLower(n)] = e
			}
		}
	}
	return idx, nil
}

// Catalog returns the built-in integration definitions, sorted by Type. Each
// is a copy the caller may change. They hold no client credentials: a
// project supplies its own (see CatalogEntry).
func Catalog() []Config {
	idx, err := loadCatalog()
	if err != nil {
		return nil
	}
	out := make([]Config, len(idx.entries))
	for i := range idx.entries {
		out[i] = cloneConfig(idx.entries[i].Config)
	}
	return out
}

// CatalogEntry returns a copy of the built-in definition for typ: a type
// name ("salesforce", "googleCalendar"), one of an entry's aliases
// ("msteams"), or either in another letter case ("googleDrive"). The copy
// carries the entry's own Type.
//
// New uses it for an Config whose BaseURL is empty:
// the entry gives the defaults and every non-zero field of the config
// overrides them. Auth is merged field by field (give only ClientID and
// ClientSecret), slices replace the entry's (a non-nil empty slice clears
// them), Headers merge by name (an empty value removes the entry's header),
// and Type, ID and Slug stay the config's own, so "msteams" is served under
// that name. The connection-life fields follow the same rule: a non-zero
// field of the config overrides the entry's (auth.refreshUrl, auth.pkce,
// auth.tokenPaths as a whole, auth.defaultLifetimeSeconds, ...); inputs,
// capture, lookups and deadTokens are slices (the config's replace the
// entry's); verify and refreshRules are replaced whole; authParams,
// reauthParams, tokenParams, refreshParams and Query merge by name like Headers
// (an empty value removes the entry's parameter).
func CatalogEntry(typ string) (Config, bool) {
	idx, err := loadCatalog()
	if err != nil {
		return Config{}, false
	}
	e, ok := idx.byName[typ]
	if !ok {
		e, ok = idx.byName[strings.ToLower(typ)]
	}
	if !ok {
		return Config{}, false
	}
	return cloneConfig(e.Config), true
}

// withDefaults returns c with its zero fields taken from def (see
// CatalogEntry). def must be a copy nothing else holds.
func withDefaults(c, def Config) Config {
	if c.Name == "" {
		c.Name = def.Name
	}
	if c.BaseURL == "" {
		c.BaseURL = def.BaseURL
	}
	if c.AllowedHosts == nil {
		c.AllowedHosts = def.AllowedHosts
	}
	if c.AllowedSchemes == nil {
		c.AllowedSchemes = def.AllowedSchemes
	}
	if c.AllowedPorts == nil {
		c.AllowedPorts = def.AllowedPorts
	}
	if c.AllowAddresses == nil {
		c.AllowAddresses = def.AllowAddresses
	}
	a, d := &c.Auth, def.Auth
	setIfEmpty(&a.Type, d.Type)
	setIfEmpty(&a.AuthURL, d.AuthURL)
	setIfEmpty(&a.TokenURL, d.TokenURL)
	setIfEmpty(&a.ClientID, d.ClientID)
	setIfEmpty(&a.ClientSecret, d.ClientSecret)
	setIfEmpty(&a.AuthStyle, d.AuthStyle)
	setIfEmpty(&a.In, d.In)
	setIfEmpty(&a.Name, d.Name)
	setIfEmpty(&a.Prefix, d.Prefix)
	if a.Password == nil && d.Password != nil {
		p := *d.Password
		a.Password = &p
	}
	if a.Scopes == nil {
		a.Scopes = d.Scopes
	}
	setIfEmpty(&a.RefreshURL, d.RefreshURL)
	if a.RevokeURL == "" {
		// The entry's revocation style goes with its endpoint: a project's
		// own revokeUrl keeps its own style.
		a.RevokeURL = d.RevokeURL
		setIfEmpty(&a.RevokeStyle, d.RevokeStyle)
		setIfEmpty(&a.RevokeMethod, d.RevokeMethod)
	}
	setIfEmpty(&a.ScopeParam, d.ScopeParam)
	setIfEmpty(&a.ScopeSeparator, d.ScopeSeparator)
	setIfEmpty(&a.PKCE, d.PKCE)
	setIfEmpty(&a.TokenBody, d.TokenBody)
	c.Query = mergeParams(def.Query, c.Query)
	a.AuthParams = mergeParams(d.AuthParams, a.AuthParams)
	a.ReauthParams = mergeParams(d.ReauthParams, a.ReauthParams)
	a.TokenParams = mergeParams(d.TokenParams, a.TokenParams)
	a.RefreshParams = mergeParams(d.RefreshParams, a.RefreshParams)
	if a.TokenPaths == (TokenPaths{}) {
		a.TokenPaths = d.TokenPaths
	}
	if a.DefaultLifetimeSeconds == 0 {
		a.DefaultLifetimeSeconds = d.DefaultLifetimeSeconds
	}
	if c.Inputs == nil {
		c.Inputs = def.Inputs
	}
	if c.Capture == nil {
		c.Capture = def.Capture
	}
	if c.Lookups == nil {
		c.Lookups = def.Lookups
	}
	if c.Verify == nil {
		c.Verify = def.Verify
	}
	if c.DeadTokens == nil {
		c.DeadTokens = def.DeadTokens
	}
	if c.RefreshRules == nil {
		c.RefreshRules = def.RefreshRules
	}
	if len(def.Headers) > 0 || len(c.Headers) > 0 {
		h := maps.Clone(def.Headers)
		if h == nil {
			h = map[string]string{}
		}
		for name, v := range c.Headers {
			// Header names are case-insensitive: the caller's spelling replaces the entry's.
			for dn := range h {
				if strings.EqualFold(dn, name) {
					delete(h, dn)
				}
			}
			if v != "" {
				h[name] = v
			}
		}
		c.Headers = h
	}
	if c.DefaultContentType == "" {
		c.DefaultContentType = def.DefaultContentType
	}
	if c.RateLimits == nil {
		c.RateLimits = def.RateLimits
	}
	if c.DeadTokens == nil {
		c.DeadTokens = def.DeadTokens
	}
	if c.Verify == nil {
		c.Verify = def.Verify
	}
	return c
}

// mergeParams merges a config's parameters over an entry's by name: the
// config's value replaces the entry's, and an empty value removes it.
func mergeParams(def, own map[string]string) map[string]string {
	if len(def) == 0 && len(own) == 0 {
		return own
	}
	m := maps.Clone(def)
	if m == nil {
		m = map[string]string{}
	}
	for k, v := range own {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func setIfEmpty[T ~string](dst *T, v T) {
	if *dst == "" {
		*dst = v
	}
}

// cloneConfig copies c deeply enough that changing the copy's slices, maps
// and RateLimits leaves c alone.
func cloneConfig(c Config) Config {
	c.AllowedHosts = slices.Clone(c.AllowedHosts)
	c.AllowedSchemes = slices.Clone(c.AllowedSchemes)
	c.AllowedPorts = slices.Clone(c.AllowedPorts)
	c.AllowAddresses = slices.Clone(c.AllowAddresses)
	c.Auth.Scopes = slices.Clone(c.Auth.Scopes)
	c.Headers = maps.Clone(c.Headers)
	c.Query = maps.Clone(c.Query)
	c.RateLimits = c.RateLimits.clone()
	a := &c.Auth
	a.AuthParams, a.ReauthParams = maps.Clone(a.AuthParams), maps.Clone(a.ReauthParams)
	a.TokenParams, a.RefreshParams = maps.Clone(a.TokenParams), maps.Clone(a.RefreshParams)
	c.Inputs = slices.Clone(c.Inputs)
	c.Capture = slices.Clone(c.Capture)
	c.Lookups = slices.Clone(c.Lookups)
	for i := range c.Lookups {
		c.Lookups[i].Headers = maps.Clone(c.Lookups[i].Headers)
		c.Lookups[i].Fields = maps.Clone(c.Lookups[i].Fields)
	}
	if c.Verify != nil {
		v := *c.Verify
		v.OK = slices.Clone(v.OK)
		c.Verify = &v
	}
	c.DeadTokens = slices.Clone(c.DeadTokens)
	if c.RefreshRules != nil {
		r := *c.RefreshRules
		c.RefreshRules = &r
	}
	return c
}
