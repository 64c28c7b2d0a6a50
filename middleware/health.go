package middleware

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// Events receives what the handler sees happen to connections, for the host
// app: *lifecycle.Emitter implements it (signed webhooks through an outbox,
// typed Go handlers). See Config.Events.
type Events interface {
	// RefreshHooks returns the Refresher's OnRefresh and OnRefreshFailed:
	// "refreshed", "refresh failing", "re-authorization required",
	// "recovered" (reason "refreshed").
	RefreshHooks() (onRefresh func(tokens.RefreshEvent), onRefreshFailed func(tokens.RefreshEvent, error))
	// VerificationFailed is told of a verification that failed after one
	// that passed (or none), with its code.
	VerificationFailed(ctx context.Context, k tokens.Key, reason string) error
	// Recovered is told of a verification that passed after one that
	// failed, with reason "verified".
	Recovered(ctx context.Context, k tokens.Key, reason string) error
}

// reasonVerified is the reason of a Recovered event after a verification
// (lifecycle.ReasonVerified).
const reasonVerified = "verified"

// VerifyConnection runs the verification request of k's integration
// (integrations.Config.Verify, from the catalog or the configuration) for
// k's connection now (k.ID empty: the user's default connection), through
// the same guarded transport as proxied calls. An access token that is due
// is refreshed first; one the provider rejects (401, or a dead-token answer
// of the integration's that needs no body) is refreshed and the
// verification run once more.
//
// The outcome is saved on the connection (Connection.Verified and
// VerifyError; see tokens.RecordVerification): a failure makes its health
// verification_failed with a stable code ("http_403", "network",
// "timeout", "verify_failed"), a pass makes it healthy again. With
// Config.Events, a connection that starts failing sends "verification
// failed" (once per episode) and one that passes again "recovered" (reason
// "verified"). It returns the health after the save.
//
// An error means nothing was recorded: no such connection
// (tokens.ErrNotFound) or integration (integrations.ErrNotFound), no
// verification request (integrations.ErrNoVerification), a connection that
// needs re-authorization (tokens.ErrReauthRequired, its health returned
// too), a failed refresh or store. Errors never hold a secret.
func (h *Handler) VerifyConnection(ctx context.Context, k tokens.Key) (tokens.Health, error) {
	in, err := h.reg.Lookup(ctx, k.Project, integrations.Ref{Name: k.Integration})
	if err != nil {
		return tokens.Health{}, err
	}
	if in.Config().Verify == nil {
		return tokens.Health{}, fmt.Errorf("%w: %s", integrations.ErrNoVerification, in.Key())
	}
	c, err := h.store.Get(ctx, k)
	if err != nil {
		return tokens.Health{}, err
	}
	if !c.Active() {
		return tokens.HealthOf(c), fmt.Errorf("%w: %s", tokens.ErrReauthRequired, c.Key())
	}
	client, err := h.fwd.Client(in)
	if err != nil {
		return tokens.Health{}, err
	}
	g := in.Grant()
	if g != nil {
		if c, err = h.refresher.Fresh(ctx, c, g, ""); err != nil {
			return h.healthAfter(ctx, k, err)
		}
	}
	at := time.Now()
	verr := in.Verify(ctx, client, c)
	var ve *integrations.VerifyError
	if g != nil && errors.As(verr, &ve) {
		if dead, _ := in.DeadToken(ve.Status); dead {
			if c, err = h.refresher.Fresh(ctx, c, g, c.Credential.AccessToken); err != nil {
				return h.healthAfter(ctx, k, err)
			}
			at = time.Now()
			verr = in.Verify(ctx, client, c)
		}
	}
	if errors.Is(verr, context.Canceled) && ctx.Err() != nil {
		return tokens.Health{}, fmt.Errorf("middleware: verification of %s: %w", c.Key(), ctx.Err())
	}
	code := verifyCode(verr)
	previous, saved, err := tokens.RecordVerification(ctx, h.store, c.Key(), at, code)
	if err != nil {
		return tokens.Health{}, fmt.Errorf("middleware: recording the verification of %s: %w", c.Key(), err)
	}
	if h.events != nil && saved.Active() {
		switch {
		case code != "" && previous == "":
			_ = h.events.VerificationFailed(ctx, saved.Key(), code)
		case code == "" && previous != "":
			_ = h.events.Recovered(ctx, saved.Key(), reasonVerified)
		}
	}
	return tokens.HealthOf(saved), nil
}

// healthAfter returns the health of k's connection as stored after a
// refresh failed with err, and err.
func (h *Handler) healthAfter(ctx context.Context, k tokens.Key, err error) (tokens.Health, error) {
	c, gerr := h.store.Get(ctx, k)
	if gerr != nil {
		return tokens.Health{}, err
	}
	return tokens.HealthOf(c), err
}

// verifyCode is the stable code of a verification's outcome: "" when it
// passed.
func verifyCode(err error) string {
	var ve *integrations.VerifyError
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ve):
		return fmt.Sprintf("http_%d", ve.Status)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &ne):
		return "network"
	}
	return "verify_failed"
}
