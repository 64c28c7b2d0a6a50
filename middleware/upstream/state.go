package upstream

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// State is what the upstream chain knows about one proxied request: the
// facts the earlier stages established (set before the Forwarder runs) and
// what the chain records on the way (read after it). One State lives in the
// request's context for the whole request; the RoundTrippers of the chain
// update it in place instead of copying the request.
type State struct {
	// Integration, Connection and Target are required: the integration whose
	// credential scheme applies, the connection whose credential is ready to
	// apply, and the checked target URL. None of them is modified.
	Integration *integrations.Integration
	Connection  *tokens.Connection
	Target      *url.URL
	// DeadlineSet reports that the request's context already carries the
	// Forwarder's deadline (see Forwarder.Timeout), so it adds none.
	DeadlineSet bool

	// Upstream is the time from sending to the provider's response headers
	// (the last attempt's); Retries counts the attempts after the first.
	Upstream time.Duration
	Retries  int

	attempts   int         // attempts the request may make (retry policy)
	applyErr   error       // applying the credential failed in Rewrite; the transport returns it
	bareHeader http.Header // the outbound header before the credential, for redirect hops to another origin
	secrets    []string    // the credential values sent (see integrations.Integration.Secrets), for redaction
}

// Redactor returns the redactor of the secrets this request sent so far:
// the credential applied in Rewrite and, after a refresh-and-replay, the
// fresh one. Nil when none was sent.
func (s *State) Redactor() *response.Redactor {
	if s == nil || len(s.secrets) == 0 {
		return nil
	}
	return response.NewRedactor(s.secrets...)
}

// StateKey is the context key of a request's *State. A chain that already
// carries per-request state in its context (as middleware.Handler does)
// answers ctx.Value(StateKey{}) with a *State of its own, so the Forwarder
// adds no context layer; otherwise use WithState.
type StateKey struct{}

// WithState returns a context carrying s.
func WithState(ctx context.Context, s *State) context.Context {
	return context.WithValue(ctx, StateKey{}, s)
}

// StateFrom returns the request's State, nil when the context has none.
func StateFrom(ctx context.Context) *State {
	s, _ := ctx.Value(StateKey{}).(*State)
	return s
}
