package middleware

import (
	"context"
	"errors"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// startKeepAlive builds the KeepAlive of cfg.KeepAlive, filling Store,
// Refresher and Grant from the handler's when they are empty, and starts it.
// A nil cfg.KeepAlive starts nothing.
func startKeepAlive(cfg *tokens.KeepAliveConfig, store tokens.Store, rf *tokens.Refresher, reg integrations.Registry) (*tokens.KeepAlive, error) {
	if cfg == nil {
		return nil, nil
	}
	c := *cfg
	if c.Store == nil {
		c.Store = store
	}
	if c.Refresher == nil {
		c.Refresher = rf
	}
	if c.Grant == nil {
		c.Grant = registryGrant(reg)
	}
	ka, err := tokens.NewKeepAlive(c)
	if err != nil {
		return nil, err
	}
	ka.Start(context.Background())
	return ka, nil
}

// registryGrant resolves a connection's Grant through its integration in
// reg; an integration the project no longer has refreshes nothing.
func registryGrant(reg integrations.Registry) func(context.Context, tokens.Key) (tokens.Grant, error) {
	return func(ctx context.Context, k tokens.Key) (tokens.Grant, error) {
		in, err := reg.Lookup(ctx, k.Project, integrations.Ref{Name: k.Integration})
		if errors.Is(err, integrations.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return in.Grant(), nil
	}
}
