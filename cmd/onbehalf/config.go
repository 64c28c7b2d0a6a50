package main

import (
	"github.com/onbehalf/onbehalf/middleware"
)

// Config is the server's JSON config file; docs/server.md documents it.
// Secrets are never written in it: every field marked secret takes a
// reference {"env": "NAME"} to an environment variable, resolved at load.
type Config struct {
	// Listen is the address of the proxy, portal and management API;
	// "" means 127.0.0.1:8080.
	Listen string `json:"listen,omitempty"`
	// PublicURL is the externally visible base URL of Listen, such as
	// "https://integrations.example.com". Its path, if any, is where the
	// proxy and the portal are served; the OAuth redirect URI of a project
	// is {PublicURL}/projects/{project}/sdk/connect/callback. Required.
	PublicURL string `json:"publicUrl"`
	// MetricsListen is the address of the Prometheus /metrics listener,
	// separate from Listen so that it need not be exposed; "" means no
	// metrics listener.
	MetricsListen string `json:"metricsListen,omitempty"`
	// TLS, when set, serves Listen over HTTPS with these PEM files.
	TLS *TLSConfig `json:"tls,omitempty"`
	// LogLevel is "debug", "info" (the default), "warn" or "error".
	LogLevel string `json:"logLevel,omitempty"`

	// Projects, their user-token keys and their integrations (catalog types
	// such as "salesforce" or custom ones), as middleware.ProjectConfig.
	Projects []middleware.ProjectConfig `json:"projects"`
	Store    StoreConfig                `json:"store"`
	Connect  ConnectConfig              `json:"connect,omitzero"`
	Manage   ManageConfig               `json:"manage,omitzero"`

	TimeoutSeconds          int   `json:"timeoutSeconds,omitempty"`
	MaxRequestBytes         int64 `json:"maxRequestBytes,omitempty"`
	MaxJSONResponseBytes    int64 `json:"maxJsonResponseBytes,omitempty"`
	ClockSkewSeconds        int   `json:"clockSkewSeconds,omitempty"`
	MaxTokenLifetimeSeconds int   `json:"maxTokenLifetimeSeconds,omitempty"`
	// ShutdownSeconds bounds the graceful shutdown on SIGTERM (requests and
	// refreshes in flight); 0 means 30.
	ShutdownSeconds int `json:"shutdownSeconds,omitempty"`

	Refresh struct {
		MarginSeconds   int `json:"marginSeconds,omitempty"`
		TimeoutSeconds  int `json:"timeoutSeconds,omitempty"`
		CooldownSeconds int `json:"cooldownSeconds,omitempty"`
		// KeepAlive refreshes connections in the background before they
		// are due (tokens.KeepAlive), so no request waits on a refresh.
		KeepAlive bool `json:"keepAlive,omitempty"`
	} `json:"refresh,omitzero"`
}

// TLSConfig names the certificate and key files of the HTTPS listener.
type TLSConfig struct {
	CertFile string `json:"certFile"`
	KeyFile  string `json:"keyFile"`
}

// StoreConfig chooses where connections live.
type StoreConfig struct {
	// Type is "memory" (one process, lost on restart), "redis" or
	// "postgres".
	Type     string          `json:"type"`
	Redis    *RedisConfig    `json:"redis,omitempty"`
	Postgres *PostgresConfig `json:"postgres,omitempty"`
	// Sealing, when set, encrypts credentials at rest (AES-256-GCM,
	// tokens.Sealed).
	Sealing *SealingConfig `json:"sealing,omitempty"`
}

// RedisConfig connects to Redis.
type RedisConfig struct {
	Addr     string `json:"addr"`               // host:port; required
	Username string `json:"username,omitempty"` // ACL user
	Password string `json:"password,omitempty"` // secret: {"env": "NAME"}
	DB       int    `json:"db,omitempty"`
	// Prefix starts every key; "" means "onbehalf:".
	Prefix string `json:"prefix,omitempty"`
	// TLS connects with TLS (system roots).
	TLS bool `json:"tls,omitempty"`
}

// PostgresConfig connects to Postgres. The tables are created (migrated) at
// start and by the migrate subcommand.
type PostgresConfig struct {
	// URL is a libpq connection string or URL; secret (it may carry a
	// password): {"env": "NAME"}. Required.
	URL string `json:"url"`
	// Table is the connections table; "" means onbehalf_connections.
	Table string `json:"table,omitempty"`
}

// SealingConfig holds the at-rest encryption keys, each the standard base64
// of 32 random bytes (openssl rand -base64 32) given by reference to an
// environment variable. Rotation: add a key, make it Current; records
// sealed with older keys still open and are resealed when next saved.
type SealingConfig struct {
	Current string            `json:"current"`
	Keys    map[string]string `json:"keys"` // key id → secret {"env": "NAME"}
}

// ConnectConfig configures the connect flow and the Connect Portal.
type ConnectConfig struct {
	// ReturnURLs maps a project id to the URL prefixes a connect start may
	// return to (connect.Config.ReturnURLs); the portal is always allowed.
	ReturnURLs map[string][]string `json:"returnUrls,omitempty"`
	// Disabled turns the connect routes and the portal off.
	Disabled bool `json:"disabled,omitempty"`
}

// ManageConfig configures the management API (/manage/v1/). With no key
// every management route answers 401.
type ManageConfig struct {
	APIKeys []APIKeyConfig `json:"apiKeys,omitempty"`
	// Listen, when set, serves the management API on this address only
	// (an internal interface, say) instead of beside the proxy on Listen.
	Listen string `json:"listen,omitempty"`
}

// APIKeyConfig is one management API key, kept as the hex SHA-256 of the
// key (printf %s "$KEY" | sha256sum); the key itself is not in the file.
type APIKeyConfig struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	// Scope is "read" (GET routes) or "write" (every route).
	Scope string `json:"scope"`
}
