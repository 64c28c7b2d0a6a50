package onbehalftest

import (
	"encoding/json"
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
	// FakeExpiresAtLifetime is how far ahead the fake's absolute expiry
	// (auth.tokenPaths.expiresAt) lies.
	FakeExpiresAtLifetime = 90 * time.Minute
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
	if a.Password != nil {
		// A fixed basic password (Freshdesk's "X"): only it is accepted.
		f.Password = *a.Password
	}
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
		if in.Secret {
			// A secret input carries the credential itself.
			v = map[string]string{"api_key": f.APIKey, "username": f.Username, "password": f.Password}[in.Name]
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
