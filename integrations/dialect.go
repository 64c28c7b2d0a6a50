package integrations

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/onbehalf/onbehalf/tokens"
)

// compiledInput is an Input with its anchored pattern.
type compiledInput struct {
	Input
	re *regexp.Regexp
}

// compiledLookup is a Lookup with its templates.
type compiledLookup struct {
	Lookup
	url     *endpoint
	headers []headerTemplate
}

// flow is the compiled OAuth dialect and connection-life schema.
type flow struct {
	authURL, tokenURL, refreshURL, revokeURL *endpoint
	authParams, reauthParams                 map[string]*template
	tokenParams, refreshParams               map[string]*template
	// plain: nothing x/oauth2 cannot do (static endpoints, form body, RFC
	// 6749 names, no extra token parameters): x/oauth2 runs the exchange
	// and the refresh; otherwise the package's token client does.
	plain bool
}

// compileFlow checks and compiles the OAuth dialect (auth.*), lookups,
// dead tokens and refresh rules against the declared fields.
func (in *Integration) compileFlow(d *declared) error {
	a := &in.cfg.Auth
	f := &in.flow
	oauth := a.Type == AuthOAuth2 || a.Type == AuthClientCredentials
	var err error
	if !oauth && a.Type != AuthNone {
		// OAuth fields on an api_key or basic scheme are a mistake. On
		// auth.type none they are tolerated and unused: catalog entries
		// carry their OAuth dialect before they switch to oauth2.
		for _, f := range []struct {
			path string
			set  bool
		}{{"auth.authUrl", a.AuthURL != ""}, {"auth.tokenUrl", a.TokenURL != ""}, {"auth.refreshUrl", a.RefreshURL != ""},
			{"auth.revokeUrl", a.RevokeURL != ""}, {"auth.authParams", len(a.AuthParams) > 0}, {"auth.reauthParams", len(a.ReauthParams) > 0},
			{"auth.tokenParams", len(a.TokenParams) > 0}, {"auth.refreshParams", len(a.RefreshParams) > 0},
			{"auth.pkce", a.PKCE != ""}, {"auth.tokenBody", a.TokenBody != ""}} {
			if f.set {
				return cfgErr(f.path, "only for oauth2 and oauth2_client_credentials (auth.type is %q)", a.Type)
			}
		}
	} else if oauth {
		if a.TokenURL == "" {
			return cfgErr("auth.tokenUrl", "required for %s", a.Type)
		}
		if a.AuthURL != "" {
			if f.authURL, err = in.compileEndpoint(d, "auth.authUrl", a.AuthURL, stageAuthorize, 0, false); err != nil {
				return err
			}
		}
		tokenStage := stageExchange
		if a.Type == AuthClientCredentials {
			tokenStage = stageAuthorize
		}
		if f.tokenURL, err = in.compileEndpoint(d, "auth.tokenUrl", a.TokenURL, tokenStage, 0, false); err != nil {
			return err
		}
		if a.RefreshURL != "" {
			if f.refreshURL, err = in.compileEndpoint(d, "auth.refreshUrl", a.RefreshURL, stageAny, 0, false); err != nil {
				return err
			}
		}
		if a.RevokeURL != "" {
			if f.revokeURL, err = in.compileEndpoint(d, "auth.revokeUrl", a.RevokeURL, stageAny, 0, false); err != nil {
				return err
			}
		}
		if f.authParams, err = d.checkParams("auth.authParams", a.AuthParams, stageAuthorize); err != nil {
			return err
		}
		if f.reauthParams, err = d.checkParams("auth.reauthParams", a.ReauthParams, stageAuthorize); err != nil {
			return err
		}
		if f.tokenParams, err = d.checkParams("auth.tokenParams", a.TokenParams, stageExchange); err != nil {
			return err
		}
		if f.refreshParams, err = d.checkParams("auth.refreshParams", a.RefreshParams, stageAny); err != nil {
			return err
		}
		reserved := []string{"client_id", "client_secret", "redirect_uri", "state", "code", "code_verifier",
			"code_challenge", "code_challenge_method", "grant_type", "refresh_token", "response_type"}
		for path, m := range map[string]map[string]string{"auth.authParams": a.AuthParams, "auth.reauthParams": a.ReauthParams,
			"auth.tokenParams": a.TokenParams, "auth.refreshParams": a.RefreshParams} {
			for k := range m {
				// The scope parameter is the flow's when auth.scopes is set;
				// without scopes, authParams may carry a templated one
				// (a per-tenant resource's scope).
				if slices.Contains(reserved, k) || k == in.scopeParam() && path == "auth.authParams" && len(a.Scopes) > 0 {
					return cfgErr(path+"."+k, "is set by the flow itself")
				}
			}
		}
	}
	switch a.RevokeStyle {
	case "", RevokeRFC7009, RevokeBearer:
	default:
		return cfgErr("auth.revokeStyle", "must be rfc7009 or bearer")
	}
	if a.RevokeStyle != "" && a.RevokeURL == "" {
		return cfgErr("auth.revokeStyle", "needs auth.revokeUrl")
	}
	switch a.RevokeMethod {
	case "":
	case http.MethodPost, http.MethodDelete:
		if a.RevokeStyle != RevokeBearer {
			return cfgErr("auth.revokeMethod", "only for revokeStyle bearer (RFC 7009 revocation is a POST)")
		}
	default:
		return cfgErr("auth.revokeMethod", "must be POST or DELETE")
	}
	switch a.PKCE {
	case "", PKCERequired, PKCEOptional, PKCEOff:
	default:
		return cfgErr("auth.pkce", "must be required, optional or off")
	}
	switch a.TokenBody {
	case "", TokenBodyForm, TokenBodyJSON:
	default:
		return cfgErr("auth.tokenBody", "must be form or json")
	}
	for name, p := range map[string]string{"accessToken": a.TokenPaths.AccessToken, "refreshToken": a.TokenPaths.RefreshToken,
		"expiresIn": a.TokenPaths.ExpiresIn, "tokenType": a.TokenPaths.TokenType, "scope": a.TokenPaths.Scope,
		"expiresAt": a.TokenPaths.ExpiresAt} {
		if p != "" {
			if err := checkDotted(p); err != nil {
				return cfgErr("auth.tokenPaths."+name, "%v", err)
			}
		}
	}
	if a.DefaultLifetimeSeconds < 0 {
		return cfgErr("auth.defaultLifetimeSeconds", "must not be negative")
	}
	if a.ScopeSeparator != "" && a.ScopeSeparator != " " && a.ScopeSeparator != "," && a.ScopeSeparator != "+" {
		return cfgErr("auth.scopeSeparator", `must be " ", "," or "+"`)
	}
	if a.ScopeParam != "" && !fieldName.MatchString(a.ScopeParam) {
		return cfgErr("auth.scopeParam", "%q is not a parameter name", a.ScopeParam)
	}
	f.plain = f.tokenURL != nil && f.tokenURL.tpl.static() && (f.refreshURL == nil) &&
		(a.TokenBody == "" || a.TokenBody == TokenBodyForm) && a.TokenPaths == (TokenPaths{}) &&
		len(a.TokenParams) == 0 && len(a.RefreshParams) == 0 && a.DefaultLifetimeSeconds == 0 && a.PKCE != PKCEOff
	if oauth && !f.plain {
		in.grant = flowGrant{in: in}
	}

	for i, l := range in.cfg.Lookups {
		p := fmt.Sprintf("lookups[%d]", i)
		cl := compiledLookup{Lookup: l}
		if l.URL == "" {
			return cfgErr(p+".url", "required")
		}
		if cl.url, err = in.compileEndpoint(d, p+".url", l.URL, stageLookup, i, true); err != nil {
			return err
		}
		if err := checkMethod(p+".method", l.Method); err != nil {
			return err
		}
		for _, name := range sortedKeys(l.Headers) {
			t, err := d.checkTemplate(p+".headers."+name, l.Headers[name], stageLookup, i, true)
			if err != nil {
				return err
			}
			cl.headers = append(cl.headers, headerTemplate{name: http.CanonicalHeaderKey(name), tpl: t})
		}
		if l.Items != "" {
			if err := checkDotted(l.Items); err != nil {
				return cfgErr(p+".items", "%v", err)
			}
		}
		if l.Label != "" {
			if err := checkDotted(l.Label); err != nil {
				return cfgErr(p+".label", "%v", err)
			}
		}
		for _, path := range sortedKeys(l.Where) {
			if err := checkDotted(path); err != nil {
				return cfgErr(p+".where."+path, "%v", err)
			}
			if l.Where[path] == "" {
				return cfgErr(p+".where."+path, "needs a value")
			}
		}
		switch l.Choose {
		case "", ChooseFirst, ChooseUser:
		default:
			return cfgErr(p+".choose", "must be first or user")
		}
		if l.Choose == ChooseUser && l.Label == "" {
			return cfgErr(p+".label", "required when choose is user: the chooser shows it")
		}
		in.lookups = append(in.lookups, cl)
	}
	if r := in.cfg.RefreshRules; r != nil {
		for path, v := range map[string]int{"reuseGraceSeconds": r.ReuseGraceSeconds, "idleSeconds": r.IdleSeconds, "maxSeconds": r.MaxSeconds} {
			if v < 0 {
				return cfgErr("refreshRules."+path, "must not be negative")
			}
		}
		if r.NoRefreshToken && r.Rotates {
			return cfgErr("refreshRules.rotates", "contradicts noRefreshToken")
		}
	}
	return nil
}

// scopeParam is the authorization parameter carrying the scopes.
func (in *Integration) scopeParam() string {
	if p := in.cfg.Auth.ScopeParam; p != "" {
		return p
	}
	return "scope"
}

// defaultLifetime is DefaultLifetimeSeconds as a duration.
func (in *Integration) defaultLifetime() time.Duration {
	return time.Duration(in.cfg.Auth.DefaultLifetimeSeconds) * time.Second
}

// Inputs returns the inputs the connect flow asks for, in order.
func (in *Integration) Inputs() []Input {
	out := make([]Input, len(in.inputs))
	for i, ci := range in.inputs {
		out[i] = ci.Input
	}
	return out
}

// InputError is CheckInputs' error: which input is wrong and why. It never
// quotes the value (a secret input's value is a secret).
type InputError struct {
	Name   string // the input's name ("" for a value no input declares: see Unknown)
	Reason string // "required", "too_long", "pattern" or "unknown"
}

// Error implements error; it names the input, never its value.
func (e *InputError) Error() string {
	switch e.Reason {
	case "required":
		return fmt.Sprintf("input %q is required", e.Name)
	case "too_long":
		return fmt.Sprintf("input %q is longer than %d bytes", e.Name, maxInputLen)
	case "unknown":
		return fmt.Sprintf("%q is not an input of this integration", e.Name)
	}
	return fmt.Sprintf("input %q does not have the expected form", e.Name)
}

// CheckInputs validates the values a user entered for the integration's
// inputs and splits them into connection fields and credential values
// (secret inputs). A value no input declares, a missing required one, one
// over 256 bytes or one its pattern refuses is an *InputError.
func (in *Integration) CheckInputs(values map[string]string) (map[string]string, tokens.Credential, error) {
	var cred tokens.Credential
	fields := map[string]string{}
	for _, name := range sortedKeys(values) {
		if !slices.ContainsFunc(in.inputs, func(ci compiledInput) bool { return ci.Name == name }) {
			return nil, cred, &InputError{Name: name, Reason: "unknown"}
		}
	}
	for _, ci := range in.inputs {
		v := values[ci.Name]
		switch {
		case v == "" && !ci.Optional:
			return nil, cred, &InputError{Name: ci.Name, Reason: "required"}
		case v == "":
			continue
		case len(v) > maxInputLen:
			return nil, cred, &InputError{Name: ci.Name, Reason: "too_long"}
		case ci.re != nil && !ci.re.MatchString(v):
			return nil, cred, &InputError{Name: ci.Name, Reason: "pattern"}
		}
		if !ci.Secret {
			fields[ci.Name] = v
			continue
		}
		switch ci.Name {
		case "api_key":
			cred.APIKey = v
		case "username":
			cred.Username = v
		case "password":
			cred.Password = v
		}
	}
	return fields, cred, nil
}
