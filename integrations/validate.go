package integrations

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// WellKnownFields are connection field names every config may use in its
// templates without declaring them, and that the connect flow keeps from
// any token answer's top level: what base URLs of common providers needed
// before the schema could declare them (Salesforce instance_url, a Shopify
// shop, a QuickBooks realmId, a Zendesk subdomain, an Atlassian cloud_id,
// a Mailchimp dc, a Xero tenant_id,
// ...). New entries declare their fields with Inputs, Capture and Lookups
// instead.
var WellKnownFields = []string{"instance_url", "shop", "realmId", "realm_id", "subdomain", "cloud_id", "team_id", "workspace_id", "api_domain", "dc", "tenant_id"}

// credentialNames are the credential values templates may name.
var credentialNames = []string{"credential.access_token", "credential.api_key", "credential.username", "credential.password"}

// ConfigError is New's error for a bad Config: Path is the JSON path of the
// offending value ("lookups[0].fields", "auth.tokenUrl"), Msg says what is
// wrong. It never quotes a client secret or any other secret.
type ConfigError struct {
	Path string
	Msg  string
}

// Error implements error: "path: message".
func (e *ConfigError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

func cfgErr(path, format string, args ...any) error {
	return &ConfigError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// fieldName is what an input, capture or lookup field may be called.
var fieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// maxInputLen bounds an input's value.
const maxInputLen = 256

// stage is when a template is expanded in a connection's life; it bounds
// which fields exist by then.
type stage int

const (
	stageAuthorize stage = iota // authorization URL: inputs only
	stageExchange               // code exchange: inputs and callback captures
	stageLookup                 // lookup i: all of the above, token and ID-token captures, lookups before i
	stageAny                    // base URL, headers, refresh, revoke, verify: every declared field
)

// declared holds the field names a config declares, by the stage they appear in.
type declared struct {
	strict    bool
	inputs    []string
	callback  []string // captures from the callback
	captures  []string // captures from the token answer and the ID token
	lookups   [][]string
	wellKnown bool
}

// known reports whether name may be used at stage st (lookup: index li).
func (d *declared) known(name string, st stage, li int) bool {
	if !d.strict {
		return true
	}
	if slices.Contains(d.inputs, name) {
		return true
	}
	if st == stageAuthorize {
		return false
	}
	if slices.Contains(d.callback, name) {
		return true
	}
	if st == stageExchange {
		return false
	}
	if slices.Contains(d.captures, name) || slices.Contains(WellKnownFields, name) {
		return true
	}
	n := len(d.lookups)
	if st == stageLookup {
		n = li
	}
	for _, fs := range d.lookups[:n] {
		if slices.Contains(fs, name) {
			return true
		}
	}
	return false
}

// declaresSchema reports whether cfg uses the connection-life schema's
// field declarations: then every template is checked against them.
func declaresSchema(cfg *Config) bool {
	return len(cfg.Inputs) > 0 || len(cfg.Capture) > 0 || len(cfg.Lookups) > 0
}

// checkTemplate parses s and checks its placeholders: each must be a
// declared field at stage st, and a credential value only where cred.
func (d *declared) checkTemplate(path, s string, st stage, li int, cred bool) (*template, error) {
	t, err := parseTemplate(s)
	if err != nil {
		return nil, cfgErr(path, "%v", err)
	}
	for _, p := range t.parts {
		if p.name == "" {
			continue
		}
		if strings.HasPrefix(p.name, "credential.") {
			if !slices.Contains(credentialNames, p.name) {
				return nil, cfgErr(path, "template names unknown credential value %q", p.name)
			}
			if !cred {
				return nil, cfgErr(path, "template must not use credential values")
			}
			continue
		}
		if !d.known(p.name, st, li) {
			return nil, cfgErr(path, "template names unknown field %q", p.name)
		}
	}
	return t, nil
}

// checkParams checks a map of templated parameters.
func (d *declared) checkParams(path string, m map[string]string, st stage) (map[string]*template, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]*template, len(m))
	for _, k := range sortedKeys(m) {
		if k == "" {
			return nil, cfgErr(path, "empty parameter name")
		}
		t, err := d.checkTemplate(path+"."+k, m[k], st, 0, false)
		if err != nil {
			return nil, err
		}
		out[k] = t
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// validateSchema checks Inputs, Capture and Lookups and collects the
// declared fields. strict turns on the check of template field names even
// when the config declares none (catalog entries).
func (in *Integration) validateSchema(strict bool) (*declared, error) {
	cfg := &in.cfg
	d := &declared{strict: strict || declaresSchema(cfg)}
	seen := map[string]string{} // field → where it is declared
	declare := func(path, name string) error {
		if !fieldName.MatchString(name) {
			return cfgErr(path, "%q is not a field name (letters, digits and '_')", name)
		}
		if prev, dup := seen[name]; dup && !strings.HasPrefix(prev, "lookups") {
			return cfgErr(path, "field %q is already declared by %s", name, prev)
		}
		seen[name] = path
		return nil
	}
	in.inputs = make([]compiledInput, 0, len(cfg.Inputs))
	for i, inp := range cfg.Inputs {
		p := fmt.Sprintf("inputs[%d]", i)
		if inp.Name == "" {
			return nil, cfgErr(p+".name", "required")
		}
		if err := declare(p+".name", inp.Name); err != nil {
			return nil, err
		}
		ci := compiledInput{Input: inp}
		if inp.Pattern != "" {
			re, err := regexp.Compile(`^(?:` + inp.Pattern + `)$`)
			if err != nil {
				return nil, cfgErr(p+".pattern", "not an RE2 regular expression: %v", err)
			}
			ci.re = re
			if inp.Example != "" && !re.MatchString(inp.Example) {
				return nil, cfgErr(p+".example", "%q does not match the pattern", inp.Example)
			}
		}
		if inp.Secret && inp.Name != "api_key" && inp.Name != "username" && inp.Name != "password" {
			return nil, cfgErr(p+".secret", `a secret input is stored in the credential: its name must be "api_key", "username" or "password"`)
		}
		in.inputs = append(in.inputs, ci)
		if !inp.Secret {
			d.inputs = append(d.inputs, inp.Name)
		}
	}
	for i, c := range cfg.Capture {
		p := fmt.Sprintf("capture[%d]", i)
		if c.Field == "" {
			return nil, cfgErr(p+".field", "required")
		}
		if err := declare(p+".field", c.Field); err != nil {
			return nil, err
		}
		switch c.From {
		case CaptureToken, CaptureIDToken:
			d.captures = append(d.captures, c.Field)
		case CaptureCallback:
			d.callback = append(d.callback, c.Field)
		default:
			return nil, cfgErr(p+".from", "must be token, callback or id_token")
		}
		if c.Path == "" {
			return nil, cfgErr(p+".path", "required")
		}
		if c.From == CaptureToken {
			if err := checkDotted(c.Path); err != nil {
				return nil, cfgErr(p+".path", "%v", err)
			}
		}
		if (c.From == CaptureCallback) && slices.Contains([]string{"code", "state", "error", "error_description", "error_uri"}, c.Path) {
			return nil, cfgErr(p+".path", "%q is an OAuth parameter of the callback, not a value to keep", c.Path)
		}
	}
	if (len(cfg.Capture) > 0 || len(cfg.Lookups) > 0) && cfg.Auth.Type != AuthOAuth2 {
		path := "capture"
		if len(cfg.Capture) == 0 {
			path = "lookups"
		}
		return nil, cfgErr(path, "captures and lookups run in the OAuth connect flow: auth.type must be oauth2")
	}
	for i, l := range cfg.Lookups {
		p := fmt.Sprintf("lookups[%d]", i)
		if len(l.Fields) == 0 {
			return nil, cfgErr(p+".fields", "required")
		}
		var names []string
		for _, f := range sortedKeys(l.Fields) {
			if err := declare(p+".fields."+f, f); err != nil {
				return nil, err
			}
			if err := checkDotted(l.Fields[f]); err != nil {
				return nil, cfgErr(p+".fields."+f, "%v", err)
			}
			names = append(names, f)
		}
		d.lookups = append(d.lookups, names)
	}
	return d, nil
}

// checkDotted checks a dotted JSON path ("authed_user.access_token").
func checkDotted(p string) error {
	if p == "" {
		return errors.New("required")
	}
	for seg := range strings.SplitSeq(p, ".") {
		if seg == "" {
			return fmt.Errorf("%q is not a dotted path (empty segment)", p)
		}
	}
	return nil
}

// checkMethod checks an HTTP method name.
func checkMethod(path, m string) error {
	if m == "" {
		return nil
	}
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead:
		return nil
	}
	return cfgErr(path, "%q is not GET, POST, PUT, PATCH, DELETE or HEAD", m)
}
