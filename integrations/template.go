package integrations

import (
	"fmt"
	"strings"

	"github.com/onbehalf/onbehalf/tokens"
)

// template is a string with {name} placeholders, parsed once. A name is a
// connection field ("instance_url", "shop") or one of the credential values
// "credential.access_token", "credential.api_key", "credential.username",
// "credential.password".
type template struct {
	src   string
	parts []tplPart
}

type tplPart struct {
	lit  string
	name string // placeholder name when lit == "" and name != ""
}

func parseTemplate(s string) (*template, error) {
	t := &template{src: s}
	rest := s
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		j := strings.IndexByte(rest, '}')
		if i < 0 {
			if j >= 0 {
				return nil, fmt.Errorf("unmatched '}' in %q", s)
			}
			t.parts = append(t.parts, tplPart{lit: rest})
			break
		}
		if j >= 0 && j < i {
			return nil, fmt.Errorf("unmatched '}' in %q", s)
		}
		if i > 0 {
			t.parts = append(t.parts, tplPart{lit: rest[:i]})
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unclosed '{' in %q", s)
		}
		name := strings.TrimSpace(rest[i+1 : i+end])
		if name == "" || strings.ContainsAny(name, "{ ") {
			return nil, fmt.Errorf("bad placeholder in %q", s)
		}
		t.parts = append(t.parts, tplPart{name: name})
		rest = rest[i+end+1:]
	}
	return t, nil
}

// static reports whether the template has no placeholder.
func (t *template) static() bool {
	for _, p := range t.parts {
		if p.name != "" {
			return false
		}
	}
	return true
}

// usesCredential reports whether a placeholder names a credential value.
func (t *template) usesCredential() bool {
	for _, p := range t.parts {
		if strings.HasPrefix(p.name, "credential.") {
			return true
		}
	}
	return false
}

// MissingFieldError names a placeholder the connection has no value for.
// Field names are configuration, not secrets.
type MissingFieldError struct {
	// Name is the placeholder's name.
	Name string
}

func (e *MissingFieldError) Error() string {
	return "integrations: connection has no value for {" + e.Name + "}"
}

// expand substitutes the connection's values. escape, when non-nil, is applied
// to every substituted value.
func (t *template) expand(c *tokens.Connection, escape func(string) string) (string, error) {
	if len(t.parts) == 1 && t.parts[0].name == "" {
		return t.parts[0].lit, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.name == "" {
			b.WriteString(p.lit)
			continue
		}
		v, ok := lookupValue(c, p.name)
		if !ok || v == "" {
			return "", &MissingFieldError{Name: p.name}
		}
		if escape != nil {
			v = escape(v)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func lookupValue(c *tokens.Connection, name string) (string, bool) {
	if c == nil {
		return "", false
	}
	switch name {
	case "credential.access_token":
		return c.Credential.AccessToken, true
	case "credential.api_key":
		return c.Credential.APIKey, true
	case "credential.username":
		return c.Credential.Username, true
	case "credential.password":
		return c.Credential.Password, true
	}
	v, ok := c.Fields[name]
	return v, ok
}
