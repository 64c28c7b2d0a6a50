package connect

import (
	"context"
	"time"

	"github.com/onbehalf/onbehalf/tokens"
)

// EventSink hears of the connections the connect flow saves and deletes,
// after each succeeded: *lifecycle.Emitter implements it. Its methods are
// called in the request's goroutine, with a context that outlives the
// request by at most eventTimeout; an error is logged (the connection is
// saved or deleted all the same). Implementations are safe for concurrent
// use.
type EventSink interface {
	// ConnectionSaved: c was saved (an OAuth callback, or entered
	// credentials). created reports a new connection; previous is the
	// status it had before the save ("" for a new one).
	ConnectionSaved(ctx context.Context, c *tokens.Connection, created bool, previous tokens.Status) error
	// ConnectionDeleted: c, as it was read, was deleted (a disconnect).
	ConnectionDeleted(ctx context.Context, c *tokens.Connection) error
}

// eventTimeout bounds a sink's call.
const eventTimeout = 5 * time.Second

// saved tells the sink about a save.
func (h *Handler) saved(ctx context.Context, c *tokens.Connection, created bool, previous tokens.Status) {
	if h.events == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventTimeout)
	defer cancel()
	if err := h.events.ConnectionSaved(ctx, c, created, previous); err != nil {
		h.log.Warn("connect: the connection's event was not recorded", "connection", c.Key().String(), "err", storeLog(err))
	}
}

// deleted tells the sink about a delete.
func (h *Handler) deleted(ctx context.Context, c *tokens.Connection) {
	if h.events == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventTimeout)
	defer cancel()
	if err := h.events.ConnectionDeleted(ctx, c); err != nil {
		h.log.Warn("connect: the connection's event was not recorded", "connection", c.Key().String(), "err", storeLog(err))
	}
}
