package integrations

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/tokens"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func (in *Integration) compile(strict bool) error {
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
	for _, s := range cfg.AllowAddresses {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("allowAddresses: %w", err)
		}
		in.addrs = append(in.addrs, p.Masked())
	}
	if err := in.compileBase(); err != nil {
		return err
	}
	d, err := in.validateSchema(strict)
	if err != nil {
		return err
	}
	if _, err := d.checkTemplate("baseUrl", cfg.BaseURL, stageAny, 0, false); err != nil {
		return err
	}
	for _, name := range sortedKeys(cfg.Headers) {
		t, err := d.checkTemplate("headers."+name, cfg.Headers[name], stageAny, 0, true)
		if err != nil {
			return err
		}
		in.headers = append(in.headers, headerTemplate{name: http.CanonicalHeaderKey(name), tpl: t})
		in.credentialHeaders = in.credentialHeaders || t.usesCredential()
		for _, p := range t.parts {
			if p.name == "credential.access_token" {
				in.tokenHeaders = append(in.tokenHeaders, headerTemplate{name: http.CanonicalHeaderKey(name), tpl: t})
			}
		}
	}
	for _, name := range sortedKeys(cfg.Query) {
		if name == "" || strings.ContainsAny(name, "&=#?%+ ") {
			return cfgErr("query", "%q is not a query parameter name", name)
		}
		if cfg.Auth.Type == AuthAPIKey && cfg.Auth.In == "query" && name == cfg.Auth.Name {
			return cfgErr("query."+name, "is the API key's own parameter (auth.name)")
		}
		t, err := d.checkTemplate("query."+name, cfg.Query[name], stageAny, 0, false)
		if err != nil {
			return err
		}
		in.query = append(in.query, headerTemplate{name: name, tpl: t})
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
	if err := in.compileRateLimits(); err != nil {
		return err
	}
	if err := in.compileVerify(d); err != nil {
		return err
	}
	if err := in.checkTokenPlacement(); err != nil {
		return err
	}
	if err := in.compileDeadTokens(); err != nil {
		return err
	}
	if err := in.compileAuth(); err != nil {
		return err
	}
	return in.compileFlow(d)
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
		u, err := checkBase(cfg.BaseURL, in.addrs)
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

// checkBase parses an expanded base URL and checks its form. Its host is a
// name, or an IP address inside allow (the integration's AllowAddresses: an
// on-premises provider at an address); fully-qualified targets never name
// an IP literal either way.
func checkBase(s string, allow []netip.Prefix) (*url.URL, error) {
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
	if err := hosts.CheckHost(u.Hostname()); err != nil && !allowedAddress(u.Hostname(), allow) {
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
			return cfgErr("auth.tokenUrl", "required for %s", a.Type)
		}
		style := oauth2.AuthStyleInHeader
		switch a.AuthStyle {
		case "", "header":
			style = oauth2.AuthStyleInHeader
		case "params":
			style = oauth2.AuthStyleInParams
		default:
			return cfgErr("auth.authStyle", `must be "header", "params" or ""`)
		}
		in.oauth = &oauth2.Config{
			ClientID: a.ClientID, ClientSecret: a.ClientSecret, Scopes: a.Scopes,
			Endpoint: oauth2.Endpoint{AuthURL: a.AuthURL, TokenURL: a.TokenURL, AuthStyle: style},
		}
		if a.Type == AuthOAuth2 {
			// Replaced by the package's own grant in compileFlow when the
			// dialect needs more than x/oauth2 does.
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
	if a.Password != nil && a.Type != AuthBasic {
		return fmt.Errorf("auth.password is only for auth.type basic (it is %q)", a.Type)
	}
	return nil
}

// Key is the name connections of this integration are stored under: the type

// allowedAddress reports whether host is an IP address in one of allow.
func allowedAddress(host string, allow []netip.Prefix) bool {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
