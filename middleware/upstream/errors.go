package upstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// Classify is the one place that turns the errors of the stages' packages
// (hosts, tokens, the transport) into *response.Error; response.WriteError
// then renders them. Errors it does not know become 500 INTERNAL there.
func Classify(err error) error {
	var re *response.Error
	var cool *tokens.CooldownError
	var netErr net.Error
	var missing *integrations.MissingFieldError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return re
	// Targets (hosts): refused before anything is sent.
	case errors.Is(err, hosts.ErrHostNotAllowed):
		return response.Wrap(err, http.StatusForbidden, response.CodeHostNotAllowed, response.MessageDomainInvalid)
	case errors.Is(err, hosts.ErrIPLiteral):
		return response.Wrap(err, http.StatusForbidden, response.CodeHostIPLiteral, response.MessageDomainInvalid)
	case errors.Is(err, hosts.ErrAddressDenied):
		return response.Wrap(err, http.StatusForbidden, response.CodeAddressDenied, response.MessageDomainInvalid)
	// Fixed messages: the cause's text (the target as given) is never rendered.
	case errors.Is(err, hosts.ErrScheme):
		return response.Wrap(err, http.StatusBadRequest, response.CodeTargetInvalid, "Invalid target URL: its scheme is not allowed for this integration.")
	case errors.Is(err, hosts.ErrPort):
		return response.Wrap(err, http.StatusBadRequest, response.CodeTargetInvalid, "Invalid target URL: its port is not allowed for this integration.")
	case errors.Is(err, hosts.ErrUserinfo):
		return response.Wrap(err, http.StatusBadRequest, response.CodeTargetInvalid, "Invalid target URL: it must not carry a user name or password.")
	case errors.Is(err, hosts.ErrBadURL):
		return response.Wrap(err, http.StatusBadRequest, response.CodeTargetInvalid, "Invalid target URL: give an API path under the integration's base URL, or a full https URL of an allowed host.")
	case errors.Is(err, hosts.ErrPathEscape):
		return response.Wrap(err, http.StatusBadRequest, response.CodePathInvalid, "Invalid API path: it must stay under the integration's base URL.")
	// Connections and refresh (tokens).
	case errors.Is(err, tokens.ErrUnavailable):
		e := response.Wrap(err, http.StatusServiceUnavailable, response.CodeStoreUnavailable, "The credential store is unavailable; nothing was sent.")
		e.RetryAfter = StoreRetryAfter
		return e
	case errors.Is(err, tokens.ErrReauthRequired):
		return response.Wrap(err, http.StatusForbidden, response.CodeReauthRequired, "The connection needs to be re-authorized: the user must connect the integration again.")
	case errors.As(err, &cool):
		e := response.Wrap(err, http.StatusServiceUnavailable, response.CodeRefreshCooldown, "Refreshing the connection's token failed recently; try again later.")
		e.Meta = map[string]any{"retryAfterSeconds": int(cool.RetryAfter.Seconds()) + 1}
		return e
	case errors.Is(err, tokens.ErrRefreshTimeout):
		return response.Wrap(err, http.StatusGatewayTimeout, response.CodeRefreshTimeout, "The integration's token endpoint did not answer in time.")
	case errors.Is(err, tokens.ErrRefreshFailed):
		return response.Wrap(err, http.StatusBadGateway, response.CodeRefreshFailed, "Refreshing the connection's token failed.")
	case errors.Is(err, integrations.ErrNoCredential):
		return response.Wrap(err, http.StatusForbidden, response.CodeReauthRequired, "The connection holds no usable credential: the user must connect the integration again.")
	case errors.As(err, &missing):
		// The field's name is configuration, not a secret; its value is absent.
		return response.Wrap(err, http.StatusConflict, response.CodeReauthRequired, "The connection lacks the field {"+missing.Name+"} the integration needs; the user must connect again.")
	// The transport.
	case errors.Is(err, context.DeadlineExceeded):
		return response.Wrap(err, http.StatusGatewayTimeout, response.CodeUpstreamTimeout, "The integration did not answer in time.")
	case errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &netErr) && netErr.Timeout():
		return response.Wrap(err, http.StatusGatewayTimeout, response.CodeUpstreamTimeout, "The integration did not answer in time.")
	case errors.Is(err, errUpstream):
		return response.Wrap(err, http.StatusBadGateway, response.CodeUpstreamUnreachable, "Could not reach the integration.")
	}
	return err
}

// StoreRetryAfter is the Retry-After of a 503 STORE_UNAVAILABLE answer: a
// store outage is usually a failover or a restart, seconds long.
const StoreRetryAfter = 2 * time.Second

// errUpstream marks errors of the upstream round trip.
var errUpstream = errors.New("upstream: request failed")

// Fail writes err through Classify and the response mapper.
func Fail(w http.ResponseWriter, err error) {
	response.WriteError(w, Classify(err))
}
