package middleware

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/tokens"
)

// AuthType names how an integration's credential is applied.
type AuthType string

// The auth schemes.
const (
	AuthOAuth2            AuthType = "oauth2"                    // bearer access token, refreshed with the refresh token
	AuthClientCredentials AuthType = "oauth2_client_credentials" // bearer token from the client-credentials grant
	AuthAPIKey            AuthType = "api_key"                   // API key in a header or query parameter
	AuthBasic             AuthType = "basic"                     // HTTP basic with username and password
	AuthNone              AuthType = "none"                      // nothing applied (headers may still be templated)
)

// SchemeConfig is an integration's auth scheme.
type SchemeConfig struct {
	// Type is the scheme; "" means AuthNone.
	Type AuthType `json:"type"`

	// OAuth2 and client credentials.
	AuthURL      string   `json:"authUrl,omitempty"`
	TokenURL     string   `json:"tokenUrl,omitempty"` // required for the OAuth2 types
	ClientID     string   `json:"clientId,omitempty"`
	ClientSecret string   `json:"clientSecret,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	// AuthStyle is how the client authenticates to the token endpoint:
	// "header" (HTTP basic, which RFC 6749 section 2.3.1 requires servers to
	// support) or "params" (form fields). "" means "header". There is no
	// auto-detection on purpose: x/oauth2's detection retries a failed request
	// in the other style, which presents the same refresh token twice — a
	// reuse that servers with rotation punish by revoking the grant.
	AuthStyle string `json:"authStyle,omitempty"`

	// API key: where it goes. In is "header" (the default) or "query";
	// Name is the header or parameter name ("Authorization" by default for a
	// header, required for a query); Prefix is put before the key in a header
	// ("Bearer ", "Token ").
	In     string `json:"in,omitempty"`
	Name   string `json:"name,omitempty"`
	Prefix string `json:"prefix,omitempty"`
}

// IntegrationConfig describes one integration. It is what the standalone
// config file holds; NewIntegration compiles it.
type IntegrationConfig struct {
	// Type is the integration type name the SDK uses ("salesforce",
	// "googleCalendar"), or "custom" for a custom integration.
	Type string `json:"type"`
	// ID and Slug identify a custom integration: it is reachable as
	// custom/{ID}/ and as custom.{Slug}. At least one is required for custom.
	ID   string `json:"id,omitempty"`
	Slug string `json:"slug,omitempty"`
	// Name is a display name; "" means Type (or Slug).
	Name string `json:"name,omitempty"`

	// BaseURL is the provider's API base, a template whose {name}
	// placeholders take the connection's fields, such as
	// "{instance_url}/services/data/v60.0" or "https://{shop}.myshopify.com/admin/api/2024-10".
	// When a placeholder stands in the host, the expanded host must also match
	// AllowedHosts. Required.
	BaseURL string `json:"baseUrl"`
	// AllowedHosts are further hosts a fully-qualified URL may name, as exact
	// names or "*.suffix" patterns. The base URL's host is always allowed.
	AllowedHosts []string `json:"allowedHosts,omitempty"`
	// AllowedSchemes for fully-qualified URLs; nil means https only. The base
	// URL's own scheme is always allowed for its host.
	AllowedSchemes []string `json:"allowedSchemes,omitempty"`
	// AllowedPorts for fully-qualified URLs; nil means the scheme's default port.
	AllowedPorts []int `json:"allowedPorts,omitempty"`
	// AllowAddresses are address ranges (CIDR) the dial guard lets this
	// integration reach although they are internal (loopback, private): for
	// on-premises providers and tests. Nil means none.
	AllowAddresses []string `json:"allowAddresses,omitempty"`

	Auth SchemeConfig `json:"auth"`
	// Headers are set on every outbound request, templated like BaseURL;
	// "{credential.api_key}" and the other credential.* names take the
	// connection's credential (for schemes that need a custom header shape).
	Headers map[string]string `json:"headers,omitempty"`
	// DefaultContentType is the Content-Type for a body sent with
	// "Content-Type: auto" that is not JSON; "" means application/octet-stream.
	DefaultContentType string `json:"defaultContentType,omitempty"`
	// RateLimits describes the provider's documented rate limits and the
	// headers that report them; nil means not described. It is information
	// for operators and for tuning Retry and Throttle: it changes no request.
	RateLimits *RateLimitInfo `json:"rateLimits,omitempty"`
	// FollowRedirects is how many redirects the proxy follows for a request;
	// zero (the default) follows none and returns the 3xx. Each hop is checked
	// like a fully-qualified URL (allowlist, scheme, port, no IP literal) and
	// by the dial guard, and the credential is sent only to the original
	// target's origin: a hop to another host goes without it. At most 10.
	FollowRedirects int `json:"followRedirects,omitempty"`
	// Retry is the integration's retry policy; the zero value retries nothing.
	Retry RetryConfig `json:"retry,omitzero"`
	// Throttle turns on per-connection throttling fed by the provider's
	// rate-limit headers; the zero value throttles nothing.
	Throttle ThrottleConfig `json:"throttle,omitzero"`
}

// Integration is a compiled IntegrationConfig. It is immutable and safe for
// concurrent use; build it with NewIntegration.
type Integration struct {
	cfg        IntegrationConfig
	key        string
	base       *template
	baseStatic *url.URL // parsed once when the base URL has no placeholder
	hostDyn    bool     // a placeholder stands in the base URL's host
	policy     *hosts.Policy
	headers    []headerTemplate
	grant      tokens.Grant
	oauth      *oauth2.Config // OAuth2 types only
	addrs      []netip.Prefix
}

type headerTemplate struct {
	name string
	tpl  *template
}

// NewIntegration validates and compiles cfg.
func NewIntegration(cfg IntegrationConfig) (*Integration, error) {
	in := &Integration{cfg: cfg}
	if err := in.compile(); err != nil {
		name := cfg.Type
		if cfg.Type == "custom" {
			name = "custom." + cfg.Slug + cfg.ID
		}
		return nil, fmt.Errorf("middleware: integration %q: %w", name, err)
	}
	return in, nil
}

func (in *Integration) compile() error {
	if in.cfg.BaseURL == "" && in.cfg.Type != "custom" {
		// A built-in provider: the catalog's entry gives the defaults and
		// every field the caller set overrides it (see CatalogEntry).
		if def, ok := CatalogEntry(in.cfg.Type); ok {
			in.cfg = withDefaults(in.cfg, def)
		}
	}
	cfg := &in.cfg
	switch {
	case cfg.Type == "":
		return errors.New("type is required")
	case cfg.Type == "custom":
		if cfg.ID == "" && cfg.Slug == "" {
			return errors.New("a custom integration needs an id or a slug")
		}
		cfg.Slug = strings.ToLower(cfg.Slug)
		in.key = "custom." + cfg.Slug
		if cfg.Slug == "" {
			in.key = "custom." + cfg.ID
		}
	case strings.ContainsAny(cfg.Type, "/. "):
		return errors.New("type must not contain '/', '.' or spaces")
	default:
		in.key = cfg.Type
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Type
		if cfg.Slug != "" {
			cfg.Name = cfg.Slug
		}
	}
	if err := in.compileBase(); err != nil {
		return err
	}
	for name, v := range cfg.Headers {
		t, err := parseTemplate(v)
		if err != nil {
			return fmt.Errorf("header %s: %w", name, err)
		}
		in.headers = append(in.headers, headerTemplate{name: http.CanonicalHeaderKey(name), tpl: t})
	}
	for _, s := range cfg.AllowAddresses {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("allowAddresses: %w", err)
		}
		in.addrs = append(in.addrs, p.Masked())
	}
	if in.cfg.FollowRedirects < 0 || in.cfg.FollowRedirects > 10 {
		return errors.New("followRedirects must be 0..10")
	}
	if err := in.cfg.Retry.validate(); err != nil {
		return err
	}
	if err := in.cfg.Throttle.validate(); err != nil {
		return err
	}
	return in.compileAuth()
}

func (in *Integration) compileBase() error {
	cfg := &in.cfg
	if cfg.BaseURL == "" {
		return errors.New("baseUrl is required")
	}
	t, err := parseTemplate(cfg.BaseURL)
	if err != nil {
		return fmt.Errorf("baseUrl: %w", err)
	}
	in.base = t
	if t.usesCredential() {
		return errors.New("baseUrl must not use credential values")
	}
	allow, err := hosts.NewAllowlist(cfg.AllowedHosts...)
	if err != nil {
		return fmt.Errorf("allowedHosts: %w", err)
	}
	in.policy = &hosts.Policy{Allow: allow, Schemes: cfg.AllowedSchemes, Ports: cfg.AllowedPorts}
	if t.static() {
		u, err := checkBase(cfg.BaseURL)
		if err != nil {
			return fmt.Errorf("baseUrl: %w", err)
		}
		in.baseStatic = u
		return nil
	}
	// A placeholder before the end of the authority makes the host dynamic.
	rest := cfg.BaseURL
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	in.hostDyn = strings.Contains(rest, "{") || !strings.Contains(cfg.BaseURL, "://")
	if in.hostDyn && len(cfg.AllowedHosts) == 0 {
		return errors.New("a baseUrl whose host comes from the connection needs allowedHosts to check it against")
	}
	return nil
}

// checkBase parses an expanded base URL and checks its form.
func checkBase(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, errors.New("scheme must be https or http")
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, errors.New("must be scheme://host[:port][/path] without userinfo, query or fragment")
	}
	if err := hosts.CheckHost(u.Hostname()); err != nil {
		return nil, err
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = strings.TrimSuffix(u.RawPath, "/")
	return u, nil
}

func (in *Integration) compileAuth() error {
	a := &in.cfg.Auth
	switch a.Type {
	case "", AuthNone:
		a.Type = AuthNone
	case AuthOAuth2, AuthClientCredentials:
		if a.TokenURL == "" {
			return errors.New("auth.tokenUrl is required for " + string(a.Type))
		}
		if _, err := url.ParseRequestURI(a.TokenURL); err != nil {
			return errors.New("auth.tokenUrl is not a URL")
		}
		style := oauth2.AuthStyleInHeader
		switch a.AuthStyle {
		case "", "header":
			style = oauth2.AuthStyleInHeader
		case "params":
			style = oauth2.AuthStyleInParams
		default:
			return errors.New(`auth.authStyle must be "header", "params" or ""`)
		}
		in.oauth = &oauth2.Config{
			ClientID: a.ClientID, ClientSecret: a.ClientSecret, Scopes: a.Scopes,
			Endpoint: oauth2.Endpoint{AuthURL: a.AuthURL, TokenURL: a.TokenURL, AuthStyle: style},
		}
		if a.Type == AuthOAuth2 {
			in.grant = tokens.RefreshTokenGrant{Config: in.oauth}
		} else {
			in.grant = tokens.ClientCredentialsGrant{Config: &clientcredentials.Config{
				ClientID: a.ClientID, ClientSecret: a.ClientSecret, Scopes: a.Scopes,
				TokenURL: a.TokenURL, AuthStyle: style,
			}}
		}
	case AuthAPIKey:
		switch a.In {
		case "", "header":
			a.In = "header"
			if a.Name == "" {
				a.Name = "Authorization"
			}
		case "query":
			if a.Name == "" {
				return errors.New("auth.name is required for an API key in the query")
			}
		default:
			return errors.New(`auth.in must be "header" or "query"`)
		}
	case AuthBasic:
	default:
		return fmt.Errorf("unknown auth.type %q", a.Type)
	}
	return nil
}

// Key is the name connections of this integration are stored under: the type
// name, or "custom.<slug>" (custom.<id> without a slug).
func (in *Integration) Key() string { return in.key }

// Config returns a copy of the configuration the integration was built from,
// with defaults filled in. It holds the client secret: never log it.
func (in *Integration) Config() IntegrationConfig { return in.cfg }

// Name is the display name.
func (in *Integration) Name() string { return in.cfg.Name }

// AuthType is the integration's auth scheme.
func (in *Integration) AuthType() AuthType { return in.cfg.Auth.Type }

// Grant returns the OAuth2 grant that refreshes connections of this
// integration, nil for schemes that need none.
func (in *Integration) Grant() tokens.Grant { return in.grant }

// OAuth2Config returns a copy of the integration's x/oauth2 configuration
// (client, endpoints, scopes, token-endpoint auth style), nil for schemes
// other than OAuth2. Package connect sets its RedirectURL on the copy.
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
// base whose host came from the connection must match AllowedHosts.
func (in *Integration) BaseURL(c *tokens.Connection) (*url.URL, error) {
	u, err := in.baseURL(c)
	if err != nil || u != in.baseStatic {
		return u, err
	}
	cp := *u
	return &cp, nil
}

// baseURL is BaseURL without the copy of a static base URL: the result must
// not be modified.
func (in *Integration) baseURL(c *tokens.Connection) (*url.URL, error) {
	if in.baseStatic != nil {
		return in.baseStatic, nil
	}
	s, err := in.base.expand(c, nil)
	if err != nil {
		return nil, err
	}
	u, err := checkBase(s)
	if err != nil {
		return nil, fmt.Errorf("middleware: base URL from the connection: %w", err)
	}
	if in.hostDyn && !in.policy.Allow.Allows(u.Hostname()) {
		return nil, fmt.Errorf("middleware: base URL host %q: %w", u.Hostname(), hosts.ErrHostNotAllowed)
	}
	return u, nil
}

// Apply sets the connection's credential and the integration's headers on an
// outbound request's header and URL. It must only be given the outbound copy
// of a request, never the inbound one.
func (in *Integration) Apply(h http.Header, u *url.URL, c *tokens.Connection) error {
	for _, ht := range in.headers {
		v, err := ht.tpl.expand(c, nil)
		if err != nil {
			return err
		}
		h.Set(ht.name, v)
	}
	cred := c.Credential
	switch in.cfg.Auth.Type {
	case AuthOAuth2, AuthClientCredentials:
		if cred.AccessToken == "" {
			return errNoCredential
		}
		typ := cred.TokenType
		if typ == "" || strings.EqualFold(typ, "bearer") {
			typ = "Bearer"
		}
		h.Set("Authorization", typ+" "+cred.AccessToken)
	case AuthAPIKey:
		if cred.APIKey == "" {
			return errNoCredential
		}
		a := in.cfg.Auth
		if a.In == "query" {
			q := u.Query()
			q.Set(a.Name, cred.APIKey)
			u.RawQuery = q.Encode()
		} else {
			h.Set(a.Name, a.Prefix+cred.APIKey)
		}
	case AuthBasic:
		if cred.Username == "" && cred.Password == "" {
			return errNoCredential
		}
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred.Username+":"+cred.Password)))
	}
	return nil
}

var errNoCredential = errors.New("middleware: the connection holds no credential for the integration's auth scheme")
