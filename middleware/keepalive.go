package middleware

import (
	"context"
	"errors"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// startKeepAlive builds the KeepAlive of cfg.KeepAlive, filling Store,
// Refresher, Grant and Verify (with verify) from the handler's when they are
// empty, and starts it. A nil cfg.KeepAlive starts nothing.
func startKeepAlive(cfg *tokens.KeepAliveConfig, store tokens.Store, rf *tokens.Refresher, reg integrations.Registry,
	verify func(context.Context, tokens.Key) error) (*tokens.KeepAlive, error) {
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
	if c.Verify == nil && len(c.VerifyEvery) > 0 {
		c.Verify = verify
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

// verifyKey is the KeepAlive's Verify: VerifyConnection, its health
// dropped (it is saved on the connection).
func (h *Handler) verifyKey(ctx context.Context, k tokens.Key) error {
	_, err := h.VerifyConnection(ctx, k)
	return err
}
