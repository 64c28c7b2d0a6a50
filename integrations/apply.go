package integrations

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/tokens"
)

// base whose host came from the connection must match AllowedHosts.
func (in *Integration) BaseURL(c *tokens.Connection) (*url.URL, error) {
	u, err := in.Base(c)
	if err != nil || u != in.baseStatic {
		return u, err
	}
	cp := *u
	return &cp, nil
}

// Base is BaseURL without the copy of a static base URL, for the request
// path: the result is shared and must not be modified.
func (in *Integration) Base(c *tokens.Connection) (*url.URL, error) {
	if in.baseStatic != nil {
		return in.baseStatic, nil
	}
	s, err := in.base.expand(c, nil)
	if err != nil {
		return nil, err
	}
	u, err := checkBase(s, in.addrs)
	if err != nil {
		return nil, fmt.Errorf("integrations: base URL from the connection: %w", err)
	}
	if in.hostDyn && !in.policy.Allow.Allows(u.Hostname()) {
		return nil, fmt.Errorf("integrations: base URL host %q: %w", u.Hostname(), hosts.ErrHostNotAllowed)
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
	if len(in.query) > 0 {
		// Appended to the raw query, which stays as the caller wrote it;
		// a parameter the caller sent is left alone.
		sent := u.Query()
		for _, qt := range in.query {
			if sent.Has(qt.name) {
				continue
			}
			v, err := qt.tpl.expand(c, nil)
			if err != nil {
				return err
			}
			if u.RawQuery != "" {
				u.RawQuery += "&"
			}
			u.RawQuery += url.QueryEscape(qt.name) + "=" + url.QueryEscape(v)
		}
	}
	return in.applyCredential(h, u, c)
}

// applyCredential sets the connection's credential as the scheme applies
// it, without the integration's headers (lookups, whose headers may need
// the fields the lookup finds).
func (in *Integration) applyCredential(h http.Header, u *url.URL, c *tokens.Connection) error {
	cred := c.Credential
	switch in.cfg.Auth.Type {
	case AuthOAuth2, AuthClientCredentials:
		if cred.AccessToken == "" {
			return ErrNoCredential
		}
		if a := in.cfg.Auth; a.Name != "" {
			// A provider's own header (Shopify's X-Shopify-Access-Token) or
			// prefix (Zoho's "Zoho-oauthtoken ").
			h.Set(a.Name, a.Prefix+cred.AccessToken)
			break
		}
		if len(in.tokenHeaders) > 0 {
			// The config says where the token goes (Shopify's
			// X-Shopify-Access-Token): there, and nowhere else.
			for _, ht := range in.tokenHeaders {
				v, err := ht.tpl.expand(c, nil)
				if err != nil {
					return err
				}
				h.Set(ht.name, v)
			}
			return nil
		}
		typ := cred.TokenType
		if typ == "" || strings.EqualFold(typ, "bearer") {
			typ = "Bearer"
		}
		h.Set("Authorization", typ+" "+cred.AccessToken)
	case AuthAPIKey:
		if cred.APIKey == "" {
			return ErrNoCredential
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
		pass := cred.Password
		if fixed := in.cfg.Auth.Password; fixed != nil {
			// The user name is the API key; the password is the config's.
			if cred.Username == "" {
				return ErrNoCredential
			}
			pass = *fixed
		}
		if cred.Username == "" && pass == "" {
			return ErrNoCredential
		}
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred.Username+":"+pass)))
	}
	return nil
}

// ErrNoCredential: the connection holds nothing the integration's scheme
// can apply (no access token, API key or password).
var ErrNoCredential = errors.New("integrations: the connection holds no credential for the integration's auth scheme")

// Secrets returns the credential values a request for c carries, in the
// forms they are sent, for redaction on the way back (see
// response.Redactor): the access token (not the refresh token: it is never
// sent to the API, so no answer can echo it, and each secret costs a scan of
// every answer), the API key, the
// password and the base64 of "username:password" that HTTP basic sends, and
// the credential values that header templates use. A username is included
// only when it stands alone (an empty password: the key-as-username style),
// because a username is usually an account's name or email, which answers
// rightly carry. Empty values are left out.
func (in *Integration) Secrets(c *tokens.Connection) []string {
	if c == nil {
		return nil
	}
	cred := &c.Credential
	out := make([]string, 0, 4)
	add := func(v string) {
		if v != "" {
			out = append(out, v)
		}
	}
	add(cred.AccessToken)
	add(cred.APIKey)
	add(cred.Password)
	if fixed := in.cfg.Auth.Password; fixed != nil && in.cfg.Auth.Type == AuthBasic {
		// The user name is the API key: it is the secret, the fixed
		// password is not (redacting "X" would maul every answer).
		add(cred.Username)
		if cred.Username != "" {
			add(base64.StdEncoding.EncodeToString([]byte(cred.Username + ":" + *fixed)))
		}
	} else if in.cfg.Auth.Type == AuthBasic || in.credentialHeaders {
		if cred.Password == "" {
			add(cred.Username)
		}
		if cred.Username != "" || cred.Password != "" {
			add(base64.StdEncoding.EncodeToString([]byte(cred.Username + ":" + cred.Password)))
		}
	}
	return out
}

// checkTokenPlacement checks where an OAuth2 access token goes: in the
// Authorization header as "<token type> <token>" by default, or, when
// auth.name is set, in that header after auth.prefix. Never in the query.
func (in *Integration) checkTokenPlacement() error {
	a := &in.cfg.Auth
	if a.Type != AuthOAuth2 && a.Type != AuthClientCredentials {
		return nil
	}
	if a.In != "" && a.In != "header" {
		return errors.New(`auth.in must be "header" or "" for an OAuth2 access token`)
	}
	if a.Name == "" && a.Prefix != "" {
		return errors.New("auth.prefix needs auth.name for an OAuth2 access token")
	}
	if a.Name != "" && !validHeaderName(a.Name) {
		return fmt.Errorf("auth.name %q is not a header name", a.Name)
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 field name (a token).
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return s != ""
}
