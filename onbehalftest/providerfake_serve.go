package onbehalftest

// The ProviderFake's endpoints: authorization, token (exchange and
// refresh), lookups, the API under the base URL, revocation.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
)

// violation records and answers a refused request.
func (f *ProviderFake) violation(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.violations = append(f.violations, msg)
	f.mu.Unlock()
	writeJSON(w, status, map[string]any{"error": "invalid_request", "error_description": msg})
}

func (f *ProviderFake) count(kind string) {
	f.mu.Lock()
	f.counts[kind]++
	f.mu.Unlock()
}

func (f *ProviderFake) serve(w http.ResponseWriter, r *http.Request) {
	host := strings.ToLower(r.Host)
	a := &f.Config.Auth
	match := func(tpl string, vals map[string]string) bool {
		h, p, ok := f.endpoint(tpl, vals)
		return ok && p == r.URL.Path && (h == host || strings.HasPrefix(tpl, "{"))
	}
	on := func(tpl string) (matched, rightHost bool) {
		_, p, ok := f.endpoint(tpl, f.vals)
		if !ok || p != r.URL.Path {
			return false, false
		}
		return true, match(tpl, f.vals)
	}
	for _, ep := range []struct {
		tpl   string
		serve func(http.ResponseWriter, *http.Request)
	}{{a.AuthURL, f.authorize}, {a.RefreshURL, f.token}, {a.TokenURL, f.token}, {a.RevokeURL, f.revoke}} {
		if m, right := on(ep.tpl); m {
			if !right {
				f.violation(w, http.StatusMisdirectedRequest, "%s: wrong host %q", r.URL.Path, host)
				return
			}
			ep.serve(w, r)
			return
		}
	}
	for i, l := range f.Config.Lookups {
		for _, vals := range []map[string]string{f.vals, f.itemVals(0)} {
			if match(l.URL, vals) {
				f.lookup(w, r, i)
				return
			}
		}
	}
	bh, bp, ok := f.endpoint(f.Config.BaseURL, f.vals)
	if ok && bh == host && (r.URL.Path == bp || strings.HasPrefix(r.URL.Path, strings.TrimSuffix(bp, "/")+"/")) {
		f.api(w, r, strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(bp, "/")))
		return
	}
	f.violation(w, http.StatusNotFound, "no endpoint at %s%s (the expanded URLs do not match)", host, r.URL.Path)
}

// authorize answers the authorization request with a redirect to the
// callback (consent is given at once).
func (f *ProviderFake) authorize(w http.ResponseWriter, r *http.Request) {
	a := &f.Config.Auth
	q := r.URL.Query()
	f.mu.Lock()
	f.lastAuthURL = r.URL
	f.mu.Unlock()
	f.count("authorize")
	switch {
	case q.Get("response_type") != "code":
		f.violation(w, 400, "authorize: response_type must be code")
		return
	case q.Get("client_id") != a.ClientID:
		f.violation(w, 400, "authorize: unknown client")
		return
	case q.Get("redirect_uri") == "" || f.RedirectURI != "" && q.Get("redirect_uri") != f.RedirectURI:
		f.violation(w, 400, "authorize: redirect_uri %q is not registered", q.Get("redirect_uri"))
		return
	case q.Get("state") == "":
		f.violation(w, 400, "authorize: no state")
		return
	}
	if len(a.Scopes) > 0 {
		param, sep := a.ScopeParam, a.ScopeSeparator
		if param == "" {
			param = "scope"
		}
		if sep == "" {
			sep = " "
		}
		if got := q.Get(param); got != strings.Join(a.Scopes, sep) {
			f.violation(w, 400, "authorize: %s is %q, want the scopes joined by %q", param, got, sep)
			return
		}
	}
	challenge := q.Get("code_challenge")
	if a.PKCE == integrations.PKCEOff {
		if challenge != "" {
			f.violation(w, 400, "authorize: this provider refuses unknown parameters (code_challenge)")
			return
		}
	} else if q.Get("code_challenge_method") != "S256" || len(challenge) != 43 {
		f.violation(w, 400, "authorize: PKCE S256 challenge required")
		return
	}
	offline := true
	for k, v := range a.AuthParams {
		if q.Get(k) != expandWith(v, f.vals) {
			offline = false // Google: without access_type=offline, no refresh token
		}
	}
	if len(a.ReauthParams) > 0 {
		reauth := true
		for k, v := range a.ReauthParams {
			reauth = reauth && q.Get(k) == expandWith(v, f.vals)
		}
		if reauth {
			f.count("reauthorize")
		}
	}
	code := "code-" + randHex()
	f.mu.Lock()
	f.codes[code] = fakeCode{challenge: challenge, redirect: q.Get("redirect_uri"), offline: offline}
	f.mu.Unlock()
	back := url.Values{"code": {code}, "state": {q.Get("state")}}
	for _, c := range f.Config.Capture {
		if c.From == integrations.CaptureCallback {
			back.Set(c.Path, f.vals[c.Field])
		}
	}
	u, _ := url.Parse(q.Get("redirect_uri"))
	qq := u.Query()
	for k, vs := range back {
		qq[k] = vs
	}
	u.RawQuery = qq.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// tokenParams reads a token request's parameters as the config says they come.
func (f *ProviderFake) tokenParams(w http.ResponseWriter, r *http.Request) (map[string]string, bool) {
	a := &f.Config.Auth
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	params := map[string]string{}
	ct := r.Header.Get("Content-Type")
	if a.TokenBody == integrations.TokenBodyJSON {
		if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(body, &params) != nil {
			f.violation(w, 400, "token: a JSON body is required, got %q", ct)
			return nil, false
		}
	} else {
		vals, err := url.ParseQuery(string(body))
		if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") || err != nil {
			f.violation(w, 400, "token: a form body is required, got %q", ct)
			return nil, false
		}
		for k := range vals {
			params[k] = vals.Get(k)
		}
	}
	user, pass, basic := r.BasicAuth()
	if a.AuthStyle == "params" {
		if basic || params["client_id"] != a.ClientID || params["client_secret"] != a.ClientSecret {
			f.violation(w, 401, "token: client authentication must be in the body")
			return nil, false
		}
	} else {
		u, _ := url.QueryUnescape(user)
		p, _ := url.QueryUnescape(pass)
		if !basic || u != a.ClientID || p != a.ClientSecret || params["client_secret"] != "" {
			f.violation(w, 401, "token: client authentication must be HTTP basic")
			return nil, false
		}
	}
	return params, true
}

// token serves the code exchange and the refresh grant.
func (f *ProviderFake) token(w http.ResponseWriter, r *http.Request) {
	a := &f.Config.Auth
	params, ok := f.tokenParams(w, r)
	if !ok {
		return
	}
	extra := a.TokenParams
	offline := true
	switch params["grant_type"] {
	case "authorization_code":
		f.count("exchange")
		f.mu.Lock()
		c, found := f.codes[params["code"]]
		delete(f.codes, params["code"])
		f.mu.Unlock()
		if !found || c.redirect != params["redirect_uri"] {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
			return
		}
		if c.challenge != "" {
			sum := sha256.Sum256([]byte(params["code_verifier"]))
			if base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
				f.violation(w, 400, "token: code_verifier does not match the challenge")
				return
			}
		}
		offline = c.offline
	case "refresh_token":
		f.count("refresh")
		extra = a.RefreshParams
		f.mu.Lock()
		live := f.refresh[params["refresh_token"]]
		if live && f.Config.RefreshRules != nil && f.Config.RefreshRules.Rotates {
			delete(f.refresh, params["refresh_token"])
		}
		f.mu.Unlock()
		if !live {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
			return
		}
	default:
		f.violation(w, 400, "token: grant_type %q", params["grant_type"])
		return
	}
	for k, v := range extra {
		if params[k] != expandWith(v, f.vals) {
			f.violation(w, 400, "token: parameter %s missing or wrong", k)
			return
		}
	}
	ans := map[string]any{}
	at := "at-" + randHex()
	setPath(ans, orDefault(a.TokenPaths.AccessToken, "access_token"), at)
	setPath(ans, orDefault(a.TokenPaths.TokenType, "token_type"), "Bearer")
	var rt string
	rotates := f.Config.RefreshRules != nil && f.Config.RefreshRules.Rotates
	noRT := f.Config.RefreshRules != nil && f.Config.RefreshRules.NoRefreshToken
	if params["grant_type"] == "authorization_code" && offline && !noRT || params["grant_type"] == "refresh_token" && rotates {
		rt = "rt-" + randHex()
		setPath(ans, orDefault(a.TokenPaths.RefreshToken, "refresh_token"), rt)
	}
	if a.TokenPaths.ExpiresAt != "" {
		// An absolute expiry only (Square's expires_at), 90 minutes ahead:
		// a connection whose expiry is anything else did not read it.
		setPath(ans, a.TokenPaths.ExpiresAt, time.Now().Add(FakeExpiresAtLifetime).UTC().Format(time.RFC3339))
	} else if a.DefaultLifetimeSeconds == 0 {
		setPath(ans, orDefault(a.TokenPaths.ExpiresIn, "expires_in"), 3600)
	}
	if params["grant_type"] == "authorization_code" {
		claims := map[string]any{"aud": a.ClientID, "exp": time.Now().Add(time.Hour).Unix(), "iss": "https://fake.example"}
		idToken := false
		for _, c := range f.Config.Capture {
			switch c.From {
			case integrations.CaptureToken:
				setPath(ans, c.Path, f.vals[c.Field])
			case integrations.CaptureIDToken:
				setPath(claims, c.Path, f.vals[c.Field])
				idToken = true
			}
		}
		if idToken {
			payload, _ := json.Marshal(claims)
			ans["id_token"] = "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(payload) + ".c2ln"
		}
		for name, v := range f.vals {
			if f.undeclared(name) {
				ans[name] = v
			}
		}
	}
	f.mu.Lock()
	f.access[at] = true
	if rt != "" {
		f.refresh[rt] = true
	}
	f.mu.Unlock()
	writeJSON(w, 200, ans)
}

// undeclared reports whether name is a field no input, capture or lookup declares.
func (f *ProviderFake) undeclared(name string) bool {
	for _, in := range f.Config.Inputs {
		if in.Name == name {
			return false
		}
	}
	for _, c := range f.Config.Capture {
		if c.Field == name {
			return false
		}
	}
	for _, l := range f.Config.Lookups {
		if _, ok := l.Fields[name]; ok {
			return false
		}
	}
	return true
}

func orDefault(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

// setPath sets a dotted path of m, creating objects on the way.
func setPath(m map[string]any, path string, v any) {
	segs := strings.Split(path, ".")
	for _, s := range segs[:len(segs)-1] {
		next, ok := m[s].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[s] = next
		}
		m = next
	}
	m[segs[len(segs)-1]] = v
}

// credentialOK reports whether r carries a live credential as the scheme applies it.
func (f *ProviderFake) credentialOK(r *http.Request) bool {
	a := &f.Config.Auth
	switch a.Type {
	case integrations.AuthAPIKey:
		for _, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, f.APIKey) {
					return true
				}
			}
		}
		for _, vs := range r.URL.Query() {
			if slices.Contains(vs, f.APIKey) {
				return true
			}
		}
		return false
	case integrations.AuthBasic:
		u, p, ok := r.BasicAuth()
		return ok && u == f.Username && p == f.Password
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, vs := range r.Header {
		for _, v := range vs {
			tok := v
			if name == "Authorization" {
				scheme, rest, _ := strings.Cut(v, " ")
				if !strings.EqualFold(scheme, "bearer") {
					continue
				}
				tok = rest
			}
			if f.access[tok] {
				return true
			}
		}
	}
	return false
}

// lookup answers lookup i: two items, each with every declared field. With
// lookups[i].where, a decoy comes first, with every field but lists at the
// where paths that lack the required values, and the two items hold each
// required value in such a list: a connection that did not filter chooses
// the decoy or offers three items.
func (f *ProviderFake) lookup(w http.ResponseWriter, r *http.Request, i int) {
	f.count("lookup")
	if !f.credentialOK(r) {
		writeJSON(w, 401, map[string]string{"error": "invalid_token"})
		return
	}
	l := f.Config.Lookups[i]
	var items []any
	if len(l.Where) > 0 {
		decoy := map[string]any{}
		for name, path := range l.Fields {
			setPath(decoy, path, f.valueOf(name, 2))
		}
		if l.Label != "" {
			setPath(decoy, l.Label, "Decoy")
		}
		for path := range l.Where {
			setPath(decoy, path, []any{"decoy-value"})
		}
		items = append(items, decoy)
	}
	for k := range 2 {
		item := map[string]any{}
		for path, want := range l.Where {
			setPath(item, path, []any{"decoy-value", want})
		}
		for name, path := range l.Fields {
			setPath(item, path, f.valueOf(name, k))
		}
		if l.Label != "" {
			setPath(item, l.Label, fmt.Sprintf("Site %d", k+1))
		}
		items = append(items, item)
	}
	if l.Items == "" {
		writeJSON(w, 200, items)
		return
	}
	ans := map[string]any{}
	setPath(ans, l.Items, items)
	writeJSON(w, 200, ans)
}

// api answers a call under the base URL (the verification request among them).
func (f *ProviderFake) api(w http.ResponseWriter, r *http.Request, rel string) {
	if v := f.Config.Verify; v != nil && rel == strings.SplitN(expandWith(v.Path, f.vals), "?", 2)[0] {
		f.count("verify")
	} else {
		f.count("api")
	}
	if !f.credentialOK(r) {
		writeJSON(w, 401, map[string]string{"error": "invalid_token"})
		return
	}
	for name, tpl := range f.Config.Headers {
		if strings.Contains(tpl, "{credential.") {
			continue
		}
		if got := r.Header.Get(name); got != expandWith(tpl, f.vals) {
			f.violation(w, 400, "api: header %s is %q", name, got)
			return
		}
	}
	for name, tpl := range f.Config.Query {
		if got := r.URL.Query()[name]; len(got) != 1 || got[0] != expandWith(tpl, f.vals) {
			f.violation(w, 400, "api: query parameter %s is %q, want %q once", name, got, expandWith(tpl, f.vals))
			return
		}
	}
	writeJSON(w, 200, map[string]any{"ok": true, "path": rel})
}

// revoke serves revocation in the entry's style (auth.revokeStyle). RFC
// 7009: a form with the token and its hint, the client authenticated as
// auth.authStyle says; the grant and its tokens die. Bearer: the method of
// auth.revokeMethod, no body, a live access token as "Authorization:
// Bearer"; that token and its grant die. Anything else is a violation.
func (f *ProviderFake) revoke(w http.ResponseWriter, r *http.Request) {
	f.count("revoke")
	a := &f.Config.Auth
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if a.RevokeStyle == integrations.RevokeBearer {
		if want := orDefault(a.RevokeMethod, http.MethodPost); r.Method != want {
			f.violation(w, http.StatusMethodNotAllowed, "revoke: method %s, want %s", r.Method, want)
			return
		}
		if len(body) > 0 {
			f.violation(w, 400, "revoke: a bearer revocation has no body")
			return
		}
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		f.mu.Lock()
		live := strings.EqualFold(scheme, "bearer") && f.access[tok]
		if live {
			clear(f.access)
			clear(f.refresh)
		}
		f.mu.Unlock()
		if !live {
			writeJSON(w, 401, map[string]string{"error": "invalid_token"})
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	vals, err := url.ParseQuery(string(body))
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") || err != nil {
		f.violation(w, 400, "revoke: RFC 7009 wants a POSTed form, got %s %q", r.Method, r.Header.Get("Content-Type"))
		return
	}
	user, pass, basic := r.BasicAuth()
	if a.AuthStyle == "params" {
		if basic || vals.Get("client_id") != a.ClientID || vals.Get("client_secret") != a.ClientSecret {
			f.violation(w, 401, "revoke: client authentication must be in the body")
			return
		}
	} else if a.ClientID != "" {
		u, _ := url.QueryUnescape(user)
		p, _ := url.QueryUnescape(pass)
		if !basic || u != a.ClientID || p != a.ClientSecret || vals.Get("client_secret") != "" {
			f.violation(w, 401, "revoke: client authentication must be HTTP basic")
			return
		}
	}
	tok := vals.Get("token")
	f.mu.Lock()
	known := f.refresh[tok] || f.access[tok]
	delete(f.refresh, tok)
	delete(f.access, tok)
	if known && vals.Get("token_type_hint") == "refresh_token" {
		// Revoking the grant kills its access tokens too.
		clear(f.access)
	}
	f.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}
