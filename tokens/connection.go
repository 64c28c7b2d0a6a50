package tokens

import (
	"fmt"
	"log/slog"
	"maps"
	"time"

	"golang.org/x/oauth2"
)

// Status is the state of a connection.
type Status string

const (
	// StatusActive is a usable connection. The zero Status means active too.
	StatusActive Status = "active"
	// StatusNeedsReauth marks a connection whose grant the provider revoked or
	// expired (an invalid_grant answer to a refresh): the user must connect again.
	StatusNeedsReauth Status = "needs_reauth"
)

// Credential is what the proxy applies to an outbound request. Which fields
// matter depends on the integration's auth scheme: OAuth2 uses AccessToken,
// TokenType, RefreshToken and Expiry; API-key auth uses APIKey; basic auth
// uses Username and Password.
//
// Credential redacts itself when formatted with fmt or logged with slog, so a
// stray %v or slog.Any never prints a secret.
type Credential struct {
	AccessToken  string    `json:"access_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	// ObtainedAt is when the access token was obtained from the token
	// endpoint; with Expiry it gives the token's lifetime, which bounds how
	// early the Refresher renews it. The Refresher sets it when it saves a
	// refreshed token; code that saves a token obtained elsewhere (the
	// connect flow) should set it too. Zero means unknown, as in records
	// written before it existed: the Refresher then uses its Margin alone.
	ObtainedAt time.Time `json:"obtained_at,omitzero"`
	APIKey     string    `json:"api_key,omitempty"`
	Username   string    `json:"username,omitempty"`
	Password   string    `json:"password,omitempty"`
	// Sealed is the encrypted form of all the fields above, set by the Sealed
	// store decorator in what it hands to the backing store (which then holds
	// no plaintext secret). Code outside a store never sees it set.
	Sealed string `json:"sealed,omitempty"`
}

// OAuth2Token returns the OAuth2 fields as an *oauth2.Token.
func (c Credential) OAuth2Token() *oauth2.Token {
	return &oauth2.Token{AccessToken: c.AccessToken, TokenType: c.TokenType, RefreshToken: c.RefreshToken, Expiry: c.Expiry}
}

// WithOAuth2Token returns c with the OAuth2 fields taken from t. A token
// without a refresh token keeps c's refresh token: providers that do not
// rotate refresh tokens omit it from refresh answers.
func (c Credential) WithOAuth2Token(t *oauth2.Token) Credential {
	c.AccessToken = t.AccessToken
	c.TokenType = t.TokenType
	c.Expiry = t.Expiry
	if t.RefreshToken != "" {
		c.RefreshToken = t.RefreshToken
	}
	return c
}

// String redacts every secret; it names only which fields are set.
func (c Credential) String() string {
	set := func(s string) string {
		if s == "" {
			return "-"
		}
		return "set"
	}
	return fmt.Sprintf("Credential{access:%s refresh:%s apikey:%s basic:%s expiry:%s}",
		set(c.AccessToken), set(c.RefreshToken), set(c.APIKey), set(c.Username+c.Password), c.Expiry.Format(time.RFC3339))
}

// GoString redacts like String, for %#v.
func (c Credential) GoString() string { return c.String() }

// LogValue implements slog.LogValuer with the redacted form.
func (c Credential) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Connection is one user's connected account of one integration.
type Connection struct {
	Project     string // project id
	User        string // the connected user's id: the user token's sub
	Integration string // integration key: a type name ("salesforce") or "custom.<slug>"
	ID          string // credential id, unique per (Project, User, Integration); chosen by X-Paragon-Credential

	Credential Credential
	// Fields holds what the provider returned beside the token that later
	// requests need, such as Salesforce's instance_url or a Shopify shop;
	// base URL templates read them. Fields are not secret.
	Fields map[string]string
	Status Status
	// Reason says why Status is not active, as a stable code such as
	// ReasonRefreshLost or ReasonGrantRejected, for a UI or an operator to
	// tell the causes apart. Empty when unknown; meaningless while active.
	Reason string
	// Refreshing, when not nil, records a refresh of this connection in
	// flight: the Refresher saves it (compare-and-swap) before it calls the
	// token endpoint and clears it in the save of the result. One found by
	// the next holder of the refresh lease was left by a holder that died or
	// lost its lease in between. Stores persist it like Status.
	Refreshing *RefreshIntent
	// Failures counts the refreshes that failed in a row for a transient
	// reason (see Health); a successful refresh resets it. LastError is the
	// stable code of the last failure (see Health.LastError), never a secret.
	// Stores persist both like Status.
	Failures  int
	LastError string
	// LastUsed is when a proxied request with this connection last got an
	// answer that was not a rejection of its credential (see UseTracker,
	// which records it at most once per connection per interval). Zero when
	// unknown. Stores persist it like Status.
	LastUsed time.Time
	// Verified is when the integration's verification request last ran
	// for this connection; VerifyError is the stable code of its failure
	// ("http_403", "network", "timeout"), empty when it passed. Zero and
	// empty when never verified. Stores persist both like Status.
	Verified    time.Time
	VerifyError string

	// Version is managed by the Store: 0 for a connection not yet saved; each
	// successful Save increments it. Save is compare-and-swap on it.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Key returns the key that names exactly this connection.
func (c *Connection) Key() Key {
	return Key{Project: c.Project, User: c.User, Integration: c.Integration, ID: c.ID}
}

// Active reports whether the connection can be used (not needing re-authorization).
func (c *Connection) Active() bool { return c.Status == "" || c.Status == StatusActive }

// Clone returns a deep copy.
func (c *Connection) Clone() *Connection {
	if c == nil {
		return nil
	}
	d := *c
	d.Fields = maps.Clone(c.Fields)
	if c.Refreshing != nil {
		ri := *c.Refreshing
		d.Refreshing = &ri
	}
	return &d
}

// Key names a connection. An empty ID names the user's default connection of
// the integration: the one created first (ties broken by the smaller ID).
type Key struct {
	Project, User, Integration, ID string
}

// String returns a log-safe form of the key (ids are not secrets).
func (k Key) String() string {
	return k.Project + "/" + k.User + "/" + k.Integration + "/" + k.ID
}
