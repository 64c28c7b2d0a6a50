package integrations

import (
	"bytes"
	"embed"
	"encoding/json"
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
// that name.
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
	if a.Scopes == nil {
		a.Scopes = d.Scopes
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
	c.RateLimits = c.RateLimits.clone()
	return c
}
