package hosts

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// TransportConfig configures NewTransport. Zero values are safe defaults.
type TransportConfig struct {
	// Guard checks every resolved address right before connect.
	// Nil: NewGuard(GuardConfig{}), which denies all private and special ranges.
	Guard *Guard
	// DialTimeout bounds a TCP connect. Zero: 10s.
	DialTimeout time.Duration
	// KeepAlive is the TCP keep-alive period. Zero: 30s.
	KeepAlive time.Duration
	// TLSHandshakeTimeout bounds a TLS handshake. Zero: 10s.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers after the
	// request is written. Zero: 30s; negative: none (for a caller that
	// bounds each whole request with a context deadline, as the middleware's
	// Forwarder does, and whose per-request timer this would repeat).
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes idle pooled connections. Zero: 90s.
	IdleConnTimeout time.Duration
	// MaxIdleConns caps idle connections over all hosts. Zero: 512.
	MaxIdleConns int
	// MaxIdleConnsPerHost caps idle connections per host. Zero: 64.
	MaxIdleConnsPerHost int
	// MaxConnsPerHost caps connections per host (requests beyond it wait for
	// one, within their deadline). Zero: DefaultMaxConnsPerHost; negative: no
	// limit.
	MaxConnsPerHost int
	// TLSClientConfig is cloned. Nil: system roots, TLS 1.2 minimum. A config
	// whose MinVersion is zero gets TLS 1.2 as its minimum too.
	TLSClientConfig *tls.Config
	// Proxy chooses an outbound proxy. Nil: no proxy; HTTP_PROXY, HTTPS_PROXY
	// and NO_PROXY in the environment are ignored on purpose. With a proxy,
	// the Guard checks the proxy's address, not the target's.
	Proxy func(*http.Request) (*url.URL, error)
	// Resolver resolves host names. Nil: net.DefaultResolver.
	Resolver *net.Resolver
}

// NewTransport builds the upstream *http.Transport. Its dialer runs
// Guard.Control on every resolved address (each record of a multi-record
// answer, each Happy Eyeballs attempt), so a name that resolves, or
// re-resolves, to a denied address is refused before connect. HTTP/2 is
// attempted, and compression is disabled so that bodies pass through
// unchanged (the client negotiates its own encoding).
func NewTransport(cfg TransportConfig) (*http.Transport, error) {
	for name, d := range map[string]time.Duration{
		"DialTimeout": cfg.DialTimeout, "KeepAlive": cfg.KeepAlive,
		"TLSHandshakeTimeout": cfg.TLSHandshakeTimeout, "IdleConnTimeout": cfg.IdleConnTimeout,
	} {
		if d < 0 {
			return nil, fmt.Errorf("hosts: TransportConfig.%s is negative", name)
		}
	}
	for name, n := range map[string]int{
		"MaxIdleConns": cfg.MaxIdleConns, "MaxIdleConnsPerHost": cfg.MaxIdleConnsPerHost,
	} {
		if n < 0 {
			return nil, fmt.Errorf("hosts: TransportConfig.%s is negative", name)
		}
	}
	guard := cfg.Guard
	if guard == nil {
		var err error
		if guard, err = NewGuard(GuardConfig{}); err != nil {
			return nil, err
		}
	}
	var tlsConfig *tls.Config
	if cfg.TLSClientConfig != nil {
		tlsConfig = cfg.TLSClientConfig.Clone()
	} else {
		tlsConfig = &tls.Config{}
	}
	if tlsConfig.MinVersion == 0 {
		tlsConfig.MinVersion = tls.VersionTLS12
	}
	dialer := &net.Dialer{
		Timeout:   orDuration(cfg.DialTimeout, 10*time.Second),
		KeepAlive: orDuration(cfg.KeepAlive, 30*time.Second),
		Resolver:  cfg.Resolver,
		Control:   guard.Control,
	}
	return &http.Transport{
		Proxy:                  cfg.Proxy,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    orDuration(cfg.TLSHandshakeTimeout, 10*time.Second),
		ResponseHeaderTimeout:  max(0, orDuration(cfg.ResponseHeaderTimeout, 30*time.Second)),
		IdleConnTimeout:        orDuration(cfg.IdleConnTimeout, 90*time.Second),
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           orInt(cfg.MaxIdleConns, 512),
		MaxIdleConnsPerHost:    orInt(cfg.MaxIdleConnsPerHost, 64),
		MaxConnsPerHost:        maxConnsPerHost(cfg.MaxConnsPerHost),
		ForceAttemptHTTP2:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
	}, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func orInt(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// DefaultMaxConnsPerHost is TransportConfig.MaxConnsPerHost's default: one
// provider host cannot take every socket of the process.
const DefaultMaxConnsPerHost = 256

func maxConnsPerHost(n int) int {
	switch {
	case n == 0:
		return DefaultMaxConnsPerHost
	case n < 0:
		return 0 // net/http: no limit
	}
	return n
}
