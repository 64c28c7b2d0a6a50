package integrations

import (
	"fmt"
	"net/netip"
	"net/url"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/tokens"
	"golang.org/x/oauth2"
)

// concurrent use; build it with New.
type Integration struct {
	cfg        Config
	key        string
	base       *template
	baseStatic *url.URL // parsed once when the base URL has no placeholder
	hostDyn    bool     // a placeholder stands in the base URL's host
	policy     *hosts.Policy
	headers    []headerTemplate
	// query are the Config.Query templates, by name in sorted order.
	query []headerTemplate
	grant tokens.Grant
	oauth *oauth2.Config // OAuth2 types only
	addrs []netip.Prefix
	// credentialHeaders reports that a header template uses a credential value.
	credentialHeaders bool
	// tokenHeaders are the header templates that carry the OAuth access
	// token ("X-Shopify-Access-Token: {credential.access_token}"): with
	// them, no Authorization header is added.
	tokenHeaders []headerTemplate
	rateLimits   *RateLimits // compiled cfg.RateLimits; never nil after New
	verifyPath   *template   // compiled cfg.Verify.Path; nil without Verify
	inputs       []compiledInput
	lookups      []compiledLookup
	flow         flow
	deadTokens   []DeadToken // cfg.DeadTokens, body texts lower-cased
}

type headerTemplate struct {
	name string
	tpl  *template
}

// New validates and compiles cfg.
//
// A bad config is an error naming the JSON path of the problem (see
// ConfigError). A config that declares fields (Inputs, Capture, Lookups)
// has every template checked against them, the WellKnownFields and the
// credential values; one that declares none may name any field in its
// templates, as before the schema existed: such fields come from
// connect.Config.CaptureFields or from imported connections.
func New(cfg Config) (*Integration, error) {
	if cfg.BaseURL == "" && cfg.Type != "custom" {
		// A built-in provider: the catalog's entry gives the defaults and
		// every field the caller set overrides it (see CatalogEntry).
		if def, ok := CatalogEntry(cfg.Type); ok {
			cfg = withDefaults(cfg, def)
		}
	}
	return newIntegration(cfg, false)
}

// newIntegration is New; strict checks template field names even for a
// config that declares none (catalog entries).
func newIntegration(cfg Config, strict bool) (*Integration, error) {
	in := &Integration{cfg: cfg}
	if err := in.compile(strict); err != nil {
		name := cfg.Type
		if cfg.Type == "custom" {
			name = "custom." + cfg.Slug + cfg.ID
		}
		return nil, fmt.Errorf("integrations: integration %q: %w", name, err)
	}
	return in, nil
}

// name, or "custom.<slug>" (custom.<id> without a slug).
func (in *Integration) Key() string { return in.key }

// Config returns a copy of the configuration the integration was built from,
// with defaults filled in. It holds the client secret: never log it.
func (in *Integration) Config() Config { return in.cfg }

// Name is the display name.
func (in *Integration) Name() string { return in.cfg.Name }

// AuthType is the integration's auth scheme.
func (in *Integration) AuthType() AuthType { return in.cfg.Auth.Type }

// Grant returns the OAuth2 grant that refreshes connections of this
// integration, nil for schemes that need none.
func (in *Integration) Grant() tokens.Grant { return in.grant }

// OAuth2Config returns a copy of the integration's x/oauth2 configuration
// (client, endpoints, scopes, token-endpoint auth style), nil for schemes
// other than OAuth2. Its endpoints are the configured templates: use
// AuthCodeURL and Exchange, which expand and check them, for the flow.
func (in *Integration) OAuth2Config() *oauth2.Config {
	if in.oauth == nil {
		return nil
	}
	c := *in.oauth
	c.Scopes = append([]string(nil), in.oauth.Scopes...)
	return &c
}

// Policy returns the target policy for fully-qualified URLs.
func (in *Integration) Policy() *hosts.Policy { return in.policy }

// AllowAddresses returns the internal address ranges this integration may reach.
func (in *Integration) AllowAddresses() []netip.Prefix { return in.addrs }

// BaseURL returns the base URL for connection c, expanding placeholders. A

// FollowRedirects is how many redirects the proxy follows (see Config).
func (in *Integration) FollowRedirects() int { return in.cfg.FollowRedirects }

// Retry is the integration's retry policy.
func (in *Integration) Retry() RetryConfig { return in.cfg.Retry }

// Throttle is the integration's throttle policy.
func (in *Integration) Throttle() ThrottleConfig { return in.cfg.Throttle }

// DefaultContentType is the Content-Type for a body sent with
// "Content-Type: auto" that is not JSON; "" means application/octet-stream.
func (in *Integration) DefaultContentType() string { return in.cfg.DefaultContentType }

// QueryKeyName returns the query parameter that carries the API key, and
// false when the credential does not travel in the query.
func (in *Integration) QueryKeyName() (string, bool) {
	a := &in.cfg.Auth
	if a.Type == AuthAPIKey && a.In == "query" {
		return a.Name, true
	}
	return "", false
}
