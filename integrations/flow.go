package integrations

// This file holds the schema of a connection's life as data: what the
// connect flow asks the user, how it talks to the provider's OAuth
// endpoints, which fields it captures, which lookups it runs after the
// token exchange, how a connection is verified, which answers mean its
// token is dead, and the provider's refresh-token rules. Every string here
// that names a URL, a header value or a parameter value is a template like
// Config.BaseURL: {name} takes a connection field (an input, a captured or
// looked-up field) and {credential.access_token} and the other credential
// names take the connection's credential.

// Input is a value the connect flow asks of the user before the flow starts,
// such as a Shopify shop or a Zendesk subdomain. The Connect Portal renders
// one form field per input and the server validates the answers. An input's
// value is stored under its Name in Connection.Fields, or, when Secret, in
// the credential (never in Fields, never logged).
type Input struct {
	// Name is the field name templates use ({shop}); letters, digits and
	// '_' only. Required.
	Name string `json:"name"`
	// Label is what the portal shows; "" means Name.
	Label string `json:"label,omitempty"`
	// Pattern is an RE2 regular expression the whole value must match
	// (anchored). "" accepts any value of at most 256 bytes. A value used in a
	// URL's host should have a pattern that admits no '.', '/', '@' or ':'.
	Pattern string `json:"pattern,omitempty"`
	// Example is shown as the field's placeholder ("acme" for a subdomain).
	Example string `json:"example,omitempty"`
	// Help is a sentence under the field: where the user finds the value.
	Help string `json:"help,omitempty"`
	// Optional inputs may be left empty.
	Optional bool `json:"optional,omitempty"`
	// Secret inputs (an API key, a password) are masked in the portal and
	// stored in the credential: as APIKey for the input named "api_key", as
	// Username and Password for "username" and "password".
	Secret bool `json:"secret,omitempty"`
}

// PKCE modes for SchemeConfig.PKCE.
const (
	PKCERequired = "required" // always send an S256 code challenge
	PKCEOptional = "optional" // send one: servers that do not know PKCE ignore it (the default)
	PKCEOff      = "off"      // never send one: for servers that refuse unknown parameters
)

// Token request body encodings for SchemeConfig.TokenBody.
const (
	TokenBodyForm = "form" // application/x-www-form-urlencoded, as RFC 6749 says (the default)
	TokenBodyJSON = "json" // application/json, for providers that want it
)

// TokenPaths says where the token endpoint's answer carries each value, as
// dotted JSON paths ("authed_user.access_token" for Slack's user token).
// An empty path means the RFC 6749 name at the top level.
type TokenPaths struct {
	AccessToken  string `json:"accessToken,omitempty"`  // default "access_token"
	RefreshToken string `json:"refreshToken,omitempty"` // default "refresh_token"
	ExpiresIn    string `json:"expiresIn,omitempty"`    // default "expires_in" (seconds, number or string)
	TokenType    string `json:"tokenType,omitempty"`    // default "token_type"
	Scope        string `json:"scope,omitempty"`        // default "scope"
	// ExpiresAt is the path of an absolute expiry (an RFC 3339 time or
	// epoch seconds: Square's "expires_at"); "" means none. When the answer
	// carries a future one it is used instead of ExpiresIn.
	ExpiresAt string `json:"expiresAt,omitempty"`
}

// Capture sources for Capture.From.
const (
	CaptureToken    = "token"    // the token endpoint's JSON answer, by dotted path
	CaptureCallback = "callback" // the OAuth callback's query parameter (QuickBooks realmId)
	CaptureIDToken  = "id_token" // a claim of the OpenID Connect ID token, verified first
)

// Capture stores one value the provider returns during the connect flow in
// Connection.Fields, where base URL, header and lookup templates read it.
type Capture struct {
	// Field is the name it is stored under. Required.
	Field string `json:"field"`
	// From is one of the Capture* sources. Required.
	From string `json:"from"`
	// Path is the dotted JSON path in the token answer, the query parameter
	// name of the callback, or the claim name of the ID token. Required.
	Path string `json:"path"`
	// Optional captures may find nothing; a required one that finds nothing
	// fails the connection with code capture_missing.
	Optional bool `json:"optional,omitempty"`
}

// Choose modes for Lookup.Choose.
const (
	ChooseFirst = "first" // take the first item (the default)
	ChooseUser  = "user"  // with several items, let the user choose in the portal
)

// Lookup is a request the connect flow makes with the new token after the
// exchange, to find what later requests need: the Atlassian cloud id
// (accessible-resources), the Xero tenant id (connections), the Mailchimp
// data center (metadata).
type Lookup struct {
	// Method is the HTTP method; "" means GET.
	Method string `json:"method,omitempty"`
	// URL is the absolute URL, a template; its expanded host must be allowed
	// like a base URL's (the base URL's host, AllowedHosts). Required.
	URL string `json:"url"`
	// Headers are set on the lookup request, templated. The credential is
	// applied as the integration's scheme applies it.
	Headers map[string]string `json:"headers,omitempty"`
	// Items is the dotted path of the list of items in the JSON answer; ""
	// means the answer itself (an array is a list, an object one item).
	Items string `json:"items,omitempty"`
	// Fields maps a connection field name to the dotted path of its value in
	// one item ({"cloud_id": "id", "site_url": "url"}). Required, non-empty.
	Fields map[string]string `json:"fields"`
	// Where keeps only the items that match: each dotted path (in an item)
	// must hold the value, or be a list that contains it. Atlassian's
	// accessible-resources lists every site the user granted, Jira and
	// Confluence alike; {"scopes": "read:jira-work"} keeps the Jira sites
	// (a site's scopes are the product scopes granted on it). Nil keeps all.
	Where map[string]string `json:"where,omitempty"`
	// Label is the dotted path, in an item, of what the chooser shows ("name").
	Label string `json:"label,omitempty"`
	// Choose is ChooseFirst or ChooseUser; "" means ChooseFirst.
	Choose string `json:"choose,omitempty"`
	// Optional lookups may yield no item; a required one that yields none
	// fails the connection with code lookup_empty.
	Optional bool `json:"optional,omitempty"`
}

// Verification is the request that tells whether a connection works: run
// after connecting (before the connection is saved as working), on demand
// and on a schedule. It goes through the integration's scheme like a
// proxied call.
type Verification struct {
	// Method is the HTTP method; "" means GET.
	Method string `json:"method,omitempty"`
	// Path is relative to the base URL (templated), such as "/users/me". Required.
	Path string `json:"path"`
	// OK lists the statuses that mean "working"; empty means 200 to 299.
	OK []int `json:"ok,omitempty"`
	// Body is sent as the request's JSON body (a GraphQL query such as
	// {"query":"{ viewer { id } }"}); "" sends none. Not templated.
	Body string `json:"body,omitempty"`
	// BodyContains, when set, must also appear in the first 64 KiB of the
	// answer: for providers that answer 200 to a dead token (Slack's
	// auth.test answers {"ok":false,...}, so "\"ok\":true").
	BodyContains string `json:"bodyContains,omitempty"`
}

// DeadToken is an answer that means the access token is no longer valid
// although its status is not 401, such as Salesforce's 401/403 with
// INVALID_SESSION_ID or a 403 with a provider's "token revoked" code. The
// credential stage treats it like a 401: refresh once and replay once.
type DeadToken struct {
	// Status is the answer's status. Required.
	Status int `json:"status"`
	// BodyContains is a substring of the first 8 KiB of the body; "" matches
	// any body with that status.
	BodyContains string `json:"bodyContains,omitempty"`
}

// RefreshRules are the provider's documented refresh-token rules, for the
// keep-alive worker and for health: whether refresh tokens rotate, how long
// an unused one lives and how long one lives at most.
type RefreshRules struct {
	// Docs is the provider page the rules come from, with the date checked.
	Docs string `json:"docs,omitempty"`
	// Rotates reports that each refresh answers a new refresh token and the
	// old one stops working (after ReuseGraceSeconds).
	Rotates bool `json:"rotates,omitempty"`
	// ReuseGraceSeconds is how long a rotated-out refresh token still works.
	ReuseGraceSeconds int `json:"reuseGraceSeconds,omitempty"`
	// IdleSeconds is how long an unused refresh token lives; 0 means no idle expiry.
	IdleSeconds int `json:"idleSeconds,omitempty"`
	// MaxSeconds is a refresh token's absolute lifetime from the user's
	// consent; 0 means none. The connection needs a reconnect after it.
	MaxSeconds int `json:"maxSeconds,omitempty"`
	// NoRefreshToken reports that the provider issues no refresh token: the
	// access token lives until revoked (or DefaultLifetimeSeconds).
	NoRefreshToken bool `json:"noRefreshToken,omitempty"`
}
