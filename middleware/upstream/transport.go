package upstream

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/integrations"
)

// guardedTransport sends a request through its integration's transport.
// Integrations with the same AllowAddresses share one transport (and its
// connection pool); each transport's dial guard checks every resolved address.
type guardedTransport struct {
	custom http.RoundTripper // Config.RoundTripper: replaces the built transports
	base   hosts.TransportConfig

	transports     sync.Map // string (allowed ranges) → http.RoundTripper
	byIntegration  sync.Map // *integrations.Integration → http.RoundTripper, from transports
	byIntegrationN atomic.Int64
}

func (g *guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var in *integrations.Integration
	if s := StateFrom(req.Context()); s != nil {
		in = s.Integration
	}
	next, err := g.transportFor(in)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	return next.RoundTrip(req)
}

// transportFor returns the upstream transport for an integration: one per
// distinct set of allowed internal ranges.
func (g *guardedTransport) transportFor(in *integrations.Integration) (http.RoundTripper, error) {
	if g.custom != nil {
		return g.custom, nil
	}
	if in != nil {
		// Integrations are immutable: remember each one's transport, so the
		// per-request path does not rebuild its key.
		if rt, ok := g.byIntegration.Load(in); ok {
			return rt.(http.RoundTripper), nil
		}
	}
	rt, err := g.transportForRanges(in)
	if err != nil || in == nil {
		return rt, err
	}
	// A registry that builds integrations on the fly would grow this map
	// without end: start over past a bound (the transports stay shared).
	if g.byIntegrationN.Add(1) > maxIntegrationTransports {
		g.byIntegration.Clear()
		g.byIntegrationN.Store(1)
	}
	g.byIntegration.Store(in, rt)
	return rt, nil
}

// maxIntegrationTransports bounds the cache of transports by integration.
const maxIntegrationTransports = 4096

func (g *guardedTransport) transportForRanges(in *integrations.Integration) (http.RoundTripper, error) {
	var ranges []string
	if in != nil {
		for _, p := range in.AllowAddresses() {
			ranges = append(ranges, p.String())
		}
		slices.Sort(ranges)
	}
	key := strings.Join(ranges, ",")
	if rt, ok := g.transports.Load(key); ok {
		return rt.(http.RoundTripper), nil
	}
	cfg := g.base
	gcfg := hosts.GuardConfig{}
	if in != nil {
		gcfg.Allow = in.AllowAddresses()
	}
	guard, err := hosts.NewGuard(gcfg)
	if err != nil {
		return nil, err
	}
	cfg.Guard = guard
	t, err := hosts.NewTransport(cfg)
	if err != nil {
		return nil, err
	}
	rt, _ := g.transports.LoadOrStore(key, http.RoundTripper(t))
	return rt.(http.RoundTripper), nil
}

// closeIdle closes idle upstream connections of every transport.
func (g *guardedTransport) closeIdle() {
	g.transports.Range(func(_, v any) bool {
		if c, ok := v.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
		return true
	})
}
