package tokens

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// directTransport is http.DefaultTransport's configuration with Proxy nil,
// shared by every token request that brings no transport of its own.
//
// Token requests carry client secrets and refresh tokens. An HTTP_PROXY or
// HTTPS_PROXY left in the process environment (a developer's debugging
// proxy, a CI runner's egress proxy, a container base image) must not route
// them through a third party, so the environment is never consulted.
var directTransport = sync.OnceValue(func() http.RoundTripper {
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t := dt.Clone()
		t.Proxy = nil
		return t
	}
	// http.DefaultTransport was replaced with something else: build the
	// same defaults without its Proxy.
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
})

// DirectClient returns c when it has a Transport of its own (the caller's
// explicit choice, used as is), else a copy of c (a new client when c is
// nil) whose Transport never uses a proxy from HTTP_PROXY or HTTPS_PROXY:
// for clients that carry client secrets, tokens or codes (token, revocation
// and JWKS endpoints, webhooks). c is not modified.
func DirectClient(c *http.Client) *http.Client {
	if c == nil {
		return &http.Client{Transport: directTransport()}
	}
	if c.Transport != nil {
		return c
	}
	cc := *c
	cc.Transport = directTransport()
	return &cc
}

// withDirectClient returns ctx with its oauth2.HTTPClient passed through
// directClient: golang.org/x/oauth2 falls back to http.DefaultClient, which
// honours the environment's proxy, when ctx holds no client.
func withDirectClient(ctx context.Context) context.Context {
	c, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	if d := DirectClient(c); d != c {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, d)
	}
	return ctx
}
