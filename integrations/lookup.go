package integrations

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/tokens"
)

// LookupItem is one item a lookup found: the fields it gives the
// connection and what a chooser shows.
type LookupItem struct {
	Label  string            `json:"label"`
	Fields map[string]string `json:"fields"`
}

// Lookup error codes (LookupError.Code), stable for the connect flow.
const (
	CodeLookupFailed = "lookup_failed" // the request failed, or answered a non-2xx status or no JSON
	CodeLookupEmpty  = "lookup_empty"  // a required lookup found no item
)

// LookupError is RunLookup's error. It never holds the answer's body.
type LookupError struct {
	Index  int    // the lookup's index in Config.Lookups
	Code   string // CodeLookupFailed or CodeLookupEmpty
	Status int    // the provider's status, 0 when there was no answer
}

// Error implements error; it names the lookup, the code and the status.
func (e *LookupError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("integrations: lookups[%d]: %s (status %d)", e.Index, e.Code, e.Status)
	}
	return fmt.Sprintf("integrations: lookups[%d]: %s", e.Index, e.Code)
}

// maxLookupAnswer bounds a lookup's answer.
const maxLookupAnswer = 1 << 20

// maxLookupItems bounds the items one lookup keeps.
const maxLookupItems = 100

// Lookups returns the integration's lookups, in order.
func (in *Integration) Lookups() []Lookup {
	out := make([]Lookup, len(in.lookups))
	for i, l := range in.lookups {
		out[i] = l.Lookup
	}
	return out
}

// RunLookup makes lookup i with connection c's new credential: its URL
// expanded and its host checked (an expanded host outside the base URL's
// host and AllowedHosts is refused before any request), its headers set,
// the credential applied as the scheme applies it. client must be guarded
// (see NewClient). It returns the items with every field found (items
// lacking one are skipped), at most 100. An optional lookup may return no
// item; a required one then fails with CodeLookupEmpty.
func (in *Integration) RunLookup(ctx context.Context, client *http.Client, c *tokens.Connection, i int) ([]LookupItem, error) {
	if i < 0 || i >= len(in.lookups) {
		return nil, fmt.Errorf("integrations: no lookup %d", i)
	}
	l := &in.lookups[i]
	u, err := in.expandEndpoint(l.url, c)
	if err != nil {
		return nil, err
	}
	method := l.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, &LookupError{Index: i, Code: CodeLookupFailed}
	}
	req.Header.Set("Accept", "application/json")
	for _, h := range l.headers {
		v, err := h.tpl.expand(c, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set(h.name, v)
	}
	if err := in.applyCredential(req.Header, req.URL, c); err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", &LookupError{Index: i, Code: CodeLookupFailed}, stripURL(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxLookupAnswer+1))
	if err != nil || len(data) > maxLookupAnswer || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &LookupError{Index: i, Code: CodeLookupFailed, Status: resp.StatusCode}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil {
		return nil, &LookupError{Index: i, Code: CodeLookupFailed, Status: resp.StatusCode}
	}
	if l.Items != "" {
		doc = valueAtAny(doc, l.Items)
	}
	var list []any
	switch x := doc.(type) {
	case []any:
		list = x
	case map[string]any:
		list = []any{x}
	}
	var items []LookupItem
	for _, it := range list {
		if !matches(it, l.Where) {
			continue
		}
		fields := make(map[string]string, len(l.Fields))
		for name, path := range l.Fields {
			v, ok := tokens.ValueAt(it, path)
			if !ok || v == "" {
				fields = nil
				break
			}
			fields[name] = v
		}
		if fields == nil {
			continue
		}
		item := LookupItem{Fields: fields}
		if l.Label != "" {
			item.Label, _ = tokens.ValueAt(it, l.Label)
		}
		items = append(items, item)
		if len(items) == maxLookupItems {
			break
		}
	}
	if len(items) == 0 && !l.Optional {
		return nil, &LookupError{Index: i, Code: CodeLookupEmpty, Status: resp.StatusCode}
	}
	return items, nil
}

// matches reports whether item holds each of where's values at its path:
// as the value itself (a string, number or boolean in its JSON text) or as
// an element of a list there.
func matches(item any, where map[string]string) bool {
	for path, want := range where {
		v := valueAtAny(item, path)
		if list, ok := v.([]any); ok {
			if !slices.ContainsFunc(list, func(e any) bool { return scalarText(e) == want }) {
				return false
			}
		} else if v == nil || scalarText(v) != want {
			return false
		}
	}
	return true
}

// scalarText is a JSON scalar's text; "\x00" (matching no configured value)
// for anything else.
func scalarText(v any) string {
	if s, ok := tokens.ValueAt(map[string]any{"v": v}, "v"); ok {
		return s
	}
	return "\x00"
}

// valueAtAny walks a dotted path of a decoded JSON value.
func valueAtAny(v any, path string) any {
	for _, seg := range splitDots(path) {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[seg]
	}
	return v
}

func splitDots(p string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '.' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return out
}

// NewClient returns an HTTP client for the connect flow's requests to the
// provider's API (lookups, verification): its transport is hosts' guarded
// dial (internal addresses refused, except the integration's
// AllowAddresses), it follows no redirect, and a request takes at most 30
// s. resolver resolves host names (nil: net.DefaultResolver).
func (in *Integration) NewClient(resolver *net.Resolver) (*http.Client, error) {
	g, err := hosts.NewGuard(hosts.GuardConfig{Allow: in.addrs})
	if err != nil {
		return nil, err
	}
	tr, err := hosts.NewTransport(hosts.TransportConfig{Guard: g, Resolver: resolver})
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}
