package integrations

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrNotFound is returned (wrapped) by registries for an unknown
// integration reference.
var ErrNotFound = errors.New("integrations: integration not found")

// Ref is how a request names an integration.
type Ref struct {
	// Name is a type name ("salesforce", "googleCalendar") or "custom.<slug>".
	Name string
	// CustomID is a custom integration's id (the /custom/{id}/ route); when
	// set, Name is empty.
	CustomID string
}

// Registry finds a project's integrations. Implementations must be
// safe for concurrent use; Lookup runs on every proxied request, so it should
// be a map lookup, not I/O (cache if the source is remote).
type Registry interface {
	// Lookup returns the integration ref names in project, or an error
	// wrapping ErrNotFound.
	Lookup(ctx context.Context, project string, ref Ref) (*Integration, error)
	// List returns the project's integrations in a stable order.
	List(ctx context.Context, project string) ([]*Integration, error)
}

// StaticRegistry is an Registry built once from configuration.
type StaticRegistry struct {
	projects map[string]*projectIntegrations
}

type projectIntegrations struct {
	byName map[string]*Integration // type names and "custom.<slug>"
	byID   map[string]*Integration // custom ids
	list   []*Integration
}

var _ Registry = (*StaticRegistry)(nil)

// NewStaticRegistry compiles the integrations of each project (keyed by
// project id). Duplicate names, slugs or ids within a project are errors.
func NewStaticRegistry(projects map[string][]Config) (*StaticRegistry, error) {
	r := &StaticRegistry{projects: make(map[string]*projectIntegrations, len(projects))}
	for project, cfgs := range projects {
		if project == "" {
			return nil, errors.New("integrations: registry: empty project id")
		}
		ins := make([]*Integration, 0, len(cfgs))
		for _, c := range cfgs {
			in, err := New(c)
			if err != nil {
				return nil, fmt.Errorf("integrations: project %q: %w", project, err)
			}
			ins = append(ins, in)
		}
		if err := r.add(project, ins); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// NewStaticRegistryOf builds a registry from integrations already compiled.
func NewStaticRegistryOf(projects map[string][]*Integration) (*StaticRegistry, error) {
	r := &StaticRegistry{projects: make(map[string]*projectIntegrations, len(projects))}
	for project, ins := range projects {
		if err := r.add(project, ins); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *StaticRegistry) add(project string, ins []*Integration) error {
	p := &projectIntegrations{byName: map[string]*Integration{}, byID: map[string]*Integration{}}
	for _, in := range ins {
		if _, dup := p.byName[in.key]; dup {
			return fmt.Errorf("integrations: project %q: integration %q defined twice", project, in.key)
		}
		p.byName[in.key] = in
		if id := in.cfg.ID; in.cfg.Type == "custom" && id != "" {
			if _, dup := p.byID[id]; dup {
				return fmt.Errorf("integrations: project %q: custom integration id %q defined twice", project, id)
			}
			p.byID[id] = in
		}
		p.list = append(p.list, in)
	}
	sort.Slice(p.list, func(i, j int) bool { return p.list[i].key < p.list[j].key })
	r.projects[project] = p
	return nil
}

// Lookup implements Registry. Custom slugs match case-insensitively.
func (r *StaticRegistry) Lookup(_ context.Context, project string, ref Ref) (*Integration, error) {
	p := r.projects[project]
	if p != nil {
		if ref.CustomID != "" {
			if in := p.byID[ref.CustomID]; in != nil {
				return in, nil
			}
		} else {
			name := ref.Name
			if strings.HasPrefix(name, "custom.") {
				name = strings.ToLower(name)
			}
			if in := p.byName[name]; in != nil {
				return in, nil
			}
		}
	}
	return nil, ErrNotFound
}

// List implements Registry, ordered by Key.
func (r *StaticRegistry) List(_ context.Context, project string) ([]*Integration, error) {
	p := r.projects[project]
	if p == nil {
		return nil, nil
	}
	return append([]*Integration(nil), p.list...), nil
}
