package onbehalftest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
)

// ProviderFake is a loopback OAuth server and API built from an
// integration's config (a catalog entry), that enforces what the config
// declares, so that a connect flow that ignores a declaration fails:
//
//   - the authorization request must carry the client id, the redirect URI,
//     the scopes in the declared parameter joined by the declared
//     separator, a PKCE S256 challenge unless auth.pkce is off (and none
//     when it is), and arrive on the expanded per-tenant host;
//   - no refresh token is issued unless every auth.authParams value was
//     present (Google's access_type=offline), nor ever when
//     refreshRules.noRefreshToken;
//   - callback captures (QuickBooks' realmId) are sent only on the
//     callback, lookup fields (the Atlassian cloud id) only by the lookup
//     endpoint, token captures only in the token answer at their paths;
//   - the token request must use the declared body (form or JSON), client
//     authentication (header or params), token parameters and code
//     verifier; the answer puts the tokens at auth.tokenPaths, has no
//     expires_in when auth.defaultLifetimeSeconds is set, and an ID token
//     for id_token captures;
//   - a refresh must carry auth.refreshParams; rotating refresh tokens
//     (refreshRules.rotates) die when used;
//   - lookups answer two items (the chooser's case when choose is user);
//   - API calls, the verification request and lookups need a live
//     credential applied as the scheme says; revocation kills the grant.
//
// Every URL of the config is pointed at the fake: its scheme becomes http
// and its port the fake's, the host names stay (the entry's own templates
// are exercised) and Resolver resolves them to loopback. Violations are
// answered with an error and recorded (Violations).
type ProviderFake struct {
	// Config is the entry pointed at the fake, with ClientID and
	// ClientSecret set: give it to the registry.
	Config integrations.Config
	// Entry is the config as given.
	Entry integrations.Config
	// Resolver resolves every host the config's URLs name, with the fake's
	// field values, to 127.0.0.1.
	Resolver *FakeResolver
	// Inputs are the values to enter for the config's inputs.
	Inputs map[string]string
	// Expected are the connection fields a correct connect flow saves
	// (inputs, captures, the chosen lookup item).
	Expected map[string]string
	// Choice is the index of the lookup item the test should choose when a
	// chooser shows (1: the second of two).
	Choice int
	// APIKey, Username and Password are the credential of api_key and
	// basic configs.
	APIKey, Username, Password string
	// RedirectURI, when set, is the only redirect URI accepted.
	RedirectURI string

	srv  *httptest.Server
	port string

	mu          sync.Mutex
	vals        map[string]string // placeholder values (chosen item for lookup fields)
	kinds       map[string]string // field → "origin", "host" or "" (how templates use it)
	codes       map[string]fakeCode
	access      map[string]bool
	refresh     map[string]bool
	violations  []string
	counts      map[string]int
	lastAuthURL *url.URL
}

type fakeCode struct {
	challenge, redirect string
	offline             bool
}

// ProviderFakeOptions adjust NewProviderFake.
type ProviderFakeOptions struct {
	// Inputs override the values entered for inputs (default: each
	// input's example, else "acme").
	Inputs map[string]string
}

// Fake client credentials of the OAuth app.
const (
	FakeClientID     = "fake-client-id"
	FakeClientSecret = "fake-client-secret"
)

var placeholderRE = regexp.MustCompile(`\{([^{}]+)\}`)

// NewProviderFake starts the fake for entry and registers its cleanup.
func NewProviderFake(t testing.TB, entry integrations.Config, opts ...ProviderFakeOptions) *ProviderFake {
	t.Helper()
	var o ProviderFakeOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	f := &ProviderFake{Entry: entry, Inputs: map[string]string{}, Expected: map[string]string{}, vals: map[string]string{},
		codes: map[string]fakeCode{}, access: map[string]bool{}, refresh: map[string]bool{}, counts: map[string]int{},
		APIKey: "fake-api-key-123", Username: "fake-user", Password: "fake-password"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	_, f.port, _ = net.SplitHostPort(f.srv.Listener.Addr().String())
	port, _ := strconv.Atoi(f.port)

	// A deep copy through JSON, then every URL pointed at the fake.
	b, _ := json.Marshal(entry)
	var cfg integrations.Config
	_ = json.Unmarshal(b, &cfg)
	cfg.BaseURL = f.rewrite(cfg.BaseURL)
	a := &cfg.Auth
	a.AuthURL, a.TokenURL, a.RefreshURL, a.RevokeURL = f.rewrite(a.AuthURL), f.rewrite(a.TokenURL), f.rewrite(a.RefreshURL), f.rewrite(a.RevokeURL)
	for i := range cfg.Lookups {
		cfg.Lookups[i].URL = f.rewrite(cfg.Lookups[i].URL)
	}
	cfg.AllowedSchemes = []string{"http"}
	cfg.AllowedPorts = []int{port}
	cfg.AllowAddresses = []string{"127.0.0.0/8"}
	a.ClientID, a.ClientSecret = FakeClientID, FakeClientSecret
	f.Config = cfg

	// The values of every field.
	for _, in := range cfg.Inputs {
		v := o.Inputs[in.Name]
		if v == "" {
			v = in.Example
		}
		if v == "" {
			v = "acme"
		}
		f.Inputs[in.Name] = v
		if !in.Secret {
			f.vals[in.Name] = v
			f.Expected[in.Name] = v
		}
	}
	// How each field is used decides its value: one that starts a URL
	// ("{instance_url}/services") is an origin on an allowed host, one
	// that is a whole host ("https://{host}/api") an allowed host name,
	// any other a plain label.
	f.kinds = map[string]string{}
	for _, tpl := range f.templates() {
		for _, m := range placeholderRE.FindAllStringSubmatch(tpl, -1) {
			switch name := m[1]; {
			case strings.HasPrefix(tpl, m[0]):
				f.kinds[name] = "origin"
			case strings.Contains(tpl, "://"+m[0]+"/") || strings.Contains(tpl, "://"+m[0]+":") || strings.HasSuffix(tpl, "://"+m[0]):
				f.kinds[name] = "host"
			}
		}
	}
	for _, c := range cfg.Capture {
		f.vals[c.Field] = f.valueOf(c.Field, 0)
		f.Expected[c.Field] = f.vals[c.Field]
	}
	for _, l := range cfg.Lookups {
		idx := 0
		if l.Choose == integrations.ChooseUser {
			idx, f.Choice = 1, 1
		}
		for name := range l.Fields {
			f.vals[name] = f.valueOf(name, idx)
			f.Expected[name] = f.vals[name]
		}
	}
	// Fields the templates use that nothing declares (the well-known
	// ones of older entries): the token answer carries them at its top
	// level.
	for _, tpl := range f.templates() {
		for _, m := range placeholderRE.FindAllStringSubmatch(tpl, -1) {
			name := m[1]
			if strings.HasPrefix(name, "credential.") {
				continue
			}
			if _, ok := f.vals[name]; ok {
				continue
			}
			f.vals[name] = f.valueOf(name, 0)
			f.Expected[name] = f.vals[name]
		}
	}
	// Every host, as the templates expand, resolves to loopback.
	f.Resolver = NewFakeResolver(t, nil)
	for _, tpl := range f.templates() {
		for _, vals := range []map[string]string{f.vals, f.itemVals(0)} {
			if u, err := url.Parse(expandWith(tpl, vals)); err == nil && u.Hostname() != "" {
				f.Resolver.Set(u.Hostname(), "127.0.0.1")
			}
		}
	}
	return f
}

// rewrite points a URL template at the fake: http and its port.
func (f *ProviderFake) rewrite(s string) string {
	i := strings.Index(s, "://")
	if s == "" || i < 0 || strings.Contains(s[:i], "{") {
		return s
	}
	rest := s[i+3:]
	j := strings.IndexAny(rest, "/?#")
	if j < 0 {
		j = len(rest)
	}
	host := rest[:j]
	if k := strings.LastIndexByte(host, ':'); k >= 0 && !strings.Contains(host[k:], "}") {
		host = host[:k]
	}
	return "http://" + host + ":" + f.port + rest[j:]
}

// templates are the config's URL templates.
func (f *ProviderFake) templates() []string {
	c := &f.Config
	out := []string{c.BaseURL, c.Auth.AuthURL, c.Auth.TokenURL, c.Auth.RefreshURL, c.Auth.RevokeURL}
	for _, l := range c.Lookups {
		out = append(out, l.URL)
	}
	for _, v := range c.Headers {
		out = append(out, v)
	}
	return slices.DeleteFunc(out, func(s string) bool { return s == "" })
}

// itemVals are the values with every lookup field at item k.
func (f *ProviderFake) itemVals(k int) map[string]string {
	v := maps.Clone(f.vals)
	for _, l := range f.Config.Lookups {
		for name := range l.Fields {
			v[name] = f.valueOf(name, k)
		}
	}
	return v
}

// valueOf is the fake's value of a field, for lookup item k.
func (f *ProviderFake) valueOf(name string, k int) string {
	host := sampleHost(f.Config.AllowedHosts)
	if k > 0 && strings.HasPrefix(host, "acme.") {
		host = "acme" + strings.Repeat("b", k) + host[4:]
	}
	switch f.kinds[name] {
	case "origin":
		return "http://" + host + ":" + f.port
	case "host":
		return host
	}
	return itemValue(name, k)
}

func fieldValue(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String() + "1"
}

func itemValue(name string, k int) string {
	return fieldValue(name) + strings.Repeat("b", k)
}

func sampleHost(allowed []string) string {
	for _, p := range allowed {
		if strings.HasPrefix(p, "*.") {
			return "acme." + p[2:]
		}
	}
	if len(allowed) > 0 {
		return allowed[0]
	}
	return "localhost"
}

func expandWith(tpl string, vals map[string]string) string {
	return placeholderRE.ReplaceAllStringFunc(tpl, func(m string) string {
		if v, ok := vals[m[1:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// endpoint is an expanded URL of the config: host:port and path.
func (f *ProviderFake) endpoint(tpl string, vals map[string]string) (hostport, path string, ok bool) {
	if tpl == "" {
		return "", "", false
	}
	u, err := url.Parse(expandWith(tpl, vals))
	if err != nil || u.Host == "" {
		return "", "", false
	}
	return strings.ToLower(u.Host), u.Path, true
}

// Count returns how many requests of a kind the fake served:
// "authorize", "reauthorize", "exchange", "refresh", "lookup", "verify",
// "api", "revoke".
func (f *ProviderFake) Count(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[kind]
}

// Violations returns what the fake refused, in order.
func (f *ProviderFake) Violations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.violations)
}

// RefreshTokenLive reports whether rt still works.
func (f *ProviderFake) RefreshTokenLive(rt string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refresh[rt]
}

// AccessTokenLive reports whether at still works.
func (f *ProviderFake) AccessTokenLive(at string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.access[at]
}

// LastAuthorization returns the last authorization request's URL.
func (f *ProviderFake) LastAuthorization() *url.URL {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastAuthURL
}

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
	if a.DefaultLifetimeSeconds == 0 {
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

// lookup answers lookup i: two items, each with every declared field.
func (f *ProviderFake) lookup(w http.ResponseWriter, r *http.Request, i int) {
	f.count("lookup")
	if !f.credentialOK(r) {
		writeJSON(w, 401, map[string]string{"error": "invalid_token"})
		return
	}
	l := f.Config.Lookups[i]
	var items []any
	for k := range 2 {
		item := map[string]any{}
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
	writeJSON(w, 200, map[string]any{"ok": true, "path": rel})
}

// revoke serves RFC 7009 revocation: the grant and its tokens die.
func (f *ProviderFake) revoke(w http.ResponseWriter, r *http.Request) {
	f.count("revoke")
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	vals, _ := url.ParseQuery(string(body))
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
