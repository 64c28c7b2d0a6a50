package integrations

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
	// ("Bearer ", "Token "). For the OAuth2 types, Name and Prefix move the
	// access token from "Authorization: Bearer <token>" to another header
	// (Shopify's X-Shopify-Access-Token, with no prefix) or prefix (Zoho's
	// "Authorization: Zoho-oauthtoken <token>").
	In     string `json:"in,omitempty"`
	Name   string `json:"name,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	// Password, for basic only, is a fixed password sent with the
	// connection's user name, for providers whose API key is the basic
	// user name: Freshdesk's key with "X", Greenhouse Harvest's key with an
	// empty password (non-nil ""). The connection then holds the user name
	// only (a secret input named "username", labelled as the API key); the
	// fixed value is not a secret and is never stored.
	Password *string `json:"password,omitempty"`

	// The OAuth2 flow's provider dialect. AuthURL and TokenURL above, and
	// RefreshURL and RevokeURL, are templates (see the file comment of
	// flow.go): a per-tenant endpoint such as
	// "https://{shop}.myshopify.com/admin/oauth/access_token" takes the
	// connection's inputs, and its expanded host must be allowed like the
	// base URL's.

	// RefreshURL is the token endpoint for the refresh_token grant; "" means TokenURL.
	RefreshURL string `json:"refreshUrl,omitempty"`
	// RevokeURL is the RFC 7009 revocation endpoint used when a connection
	// is deleted; "" means the provider offers none (nothing is revoked).
	RevokeURL string `json:"revokeUrl,omitempty"`
	// RevokeStyle is how RevokeURL is called: RevokeRFC7009 ("rfc7009", the
	// default: an RFC 7009 form with the refresh token, the client
	// authenticated as at the token endpoint) or RevokeBearer ("bearer": the
	// access token as "Authorization: Bearer", no body, for providers whose
	// revocation is an API call made with the token itself).
	RevokeStyle string `json:"revokeStyle,omitempty"`
	// RevokeMethod is the bearer style's HTTP method, POST (the default) or
	// DELETE; the RFC 7009 style always posts.
	RevokeMethod string `json:"revokeMethod,omitempty"`
	// AuthParams are extra query parameters of the authorization URL
	// (Google's access_type=offline), templated.
	AuthParams map[string]string `json:"authParams,omitempty"`
	// ReauthParams are added to AuthParams when the user connects again an
	// account that is already connected (Google's prompt=consent, without
	// which no new refresh token is issued).
	ReauthParams map[string]string `json:"reauthParams,omitempty"`
	// TokenParams are extra parameters of the authorization-code exchange;
	// RefreshParams of the refresh_token grant. Templated.
	TokenParams   map[string]string `json:"tokenParams,omitempty"`
	RefreshParams map[string]string `json:"refreshParams,omitempty"`
	// ScopeParam is the authorization parameter that carries Scopes; ""
	// means "scope" (Slack's user tokens use "user_scope").
	ScopeParam string `json:"scopeParam,omitempty"`
	// ScopeSeparator joins Scopes; "" means a space (RFC 6749 section 3.3).
	ScopeSeparator string `json:"scopeSeparator,omitempty"`
	// PKCE is PKCERequired, PKCEOptional or PKCEOff; "" means PKCEOptional.
	PKCE string `json:"pkce,omitempty"`
	// TokenBody is TokenBodyForm or TokenBodyJSON; "" means TokenBodyForm.
	TokenBody string `json:"tokenBody,omitempty"`
	// TokenPaths says where the token answer carries its values; the zero
	// value means RFC 6749's names at the top level.
	TokenPaths TokenPaths `json:"tokenPaths,omitzero"`
	// DefaultLifetimeSeconds is the access token's lifetime when the token
	// answer has no expires_in; 0 means such a token does not expire.
	DefaultLifetimeSeconds int `json:"defaultLifetimeSeconds,omitempty"`
}

// Config describes one integration. It is what the standalone
// config file holds; New compiles it.
type Config struct {
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
	// AllowedHosts. Its host may be an IP address only inside AllowAddresses
	// (an on-premises provider); it then serves relative paths only.
	// Required.
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
	// With an OAuth2 scheme, a header that uses {credential.access_token}
	// carries the token instead of "Authorization: Bearer" (Shopify's
	// X-Shopify-Access-Token), for proxied calls, lookups and verification.
	Headers map[string]string `json:"headers,omitempty"`
	// Query are query parameters added to every proxied request and to the
	// verification request, templated like Headers but without credential
	// values (a URL ends up in logs): Zoho Books' organization_id
	// "{organization_id}". A parameter the caller already sent is kept as
	// sent, so a caller may address another of the user's resources; the
	// provider authorizes it with the user's own credential. Lookups do not
	// get them (their fields may not exist yet).
	Query map[string]string `json:"query,omitempty"`
	// DefaultContentType is the Content-Type for a body sent with
	// "Content-Type: auto" that is not JSON; "" means application/octet-stream.
	DefaultContentType string `json:"defaultContentType,omitempty"`
	// RateLimits is the provider's rate-limit dialect: its documented static
	// limits and their scope, the answers that mean "throttled" and the
	// headers that report the budget (see RateLimitInfo). The upstream
	// chain's limits stage acts on it by default; nil means nothing is
	// known: only a 429 blocks the connection for a while.
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

	// The connection's life (see flow.go).

	// Inputs are asked of the user before the connect flow starts.
	Inputs []Input `json:"inputs,omitempty"`
	// Capture lists the values kept from the connect flow's answers.
	Capture []Capture `json:"capture,omitempty"`
	// Lookups run in order after the token exchange, with the new token.
	Lookups []Lookup `json:"lookups,omitempty"`
	// Verify is the request that tells whether a connection works; nil
	// means none is known.
	Verify *Verification `json:"verify,omitempty"`
	// DeadTokens are answers other than 401 that mean the access token is
	// dead: the credential stage refreshes once and replays once on them.
	DeadTokens []DeadToken `json:"deadTokens,omitempty"`
	// RefreshRules are the provider's refresh-token rules; nil means none known.
	RefreshRules *RefreshRules `json:"refreshRules,omitempty"`
}

// Integration is a compiled Config. It is immutable and safe for
