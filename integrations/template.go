package integrations

import (
	"fmt"
	"net/url"
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

// expandURL expands a URL template: values in the scheme and authority
// (or a leading origin such as {instance_url}) go in as they are, and the
// host is checked by the caller; values after the authority are escaped,
// path-escaped before a '?' and query-escaped after it, so a field cannot
// add path segments or query parameters of its own.
func (t *template) expandURL(c *tokens.Connection) (string, error) {
	var b strings.Builder
	const (
		inAuthority = iota
		inPath
		inQuery
	)
	where, seenScheme := inAuthority, false
	for i, p := range t.parts {
		if p.name == "" {
			b.WriteString(p.lit)
			rest := p.lit
			if where == inAuthority {
				if j := strings.Index(rest, "://"); j >= 0 && !seenScheme {
					seenScheme, rest = true, rest[j+3:]
				} else if !seenScheme && i > 0 {
					seenScheme = true // a leading origin placeholder: its literal tail is a path
				}
				if seenScheme {
					if j := strings.IndexAny(rest, "/?#"); j >= 0 {
						where, rest = inPath, rest[j:]
					}
				}
			}
			if where == inPath && strings.Contains(rest, "?") {
				where = inQuery
			}
			continue
		}
		v, ok := lookupValue(c, p.name)
		if !ok || v == "" {
			return "", &MissingFieldError{Name: p.name}
		}
		switch where {
		case inPath:
			v = url.PathEscape(v)
		case inQuery:
			v = url.QueryEscape(v)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
