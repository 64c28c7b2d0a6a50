package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes holds the OpenAPI document to the routes: every
// route of manageRoutes is in the document with its method and scope, every
// operation of the document is a route, and the served mux answers each
// documented operation (401 without a key, not 404 or 405) and refuses each
// undocumented method on a documented path with 405.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := newTestServer(t)
	st, b := call(t, "GET", s.URL+"/manage/v1/openapi.json", "", "")
	if st != 200 {
		t.Fatalf("openapi.json: %d", st)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Servers []struct{ URL string }                `json:"servers"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || len(doc.Servers) != 1 || doc.Servers[0].URL != manageBase {
		t.Fatalf("openapi %q servers %+v", doc.OpenAPI, doc.Servers)
	}
	methods := []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	documented := map[string]string{} // "METHOD path" → x-scope
	for path, item := range doc.Paths {
		for m, op := range item {
			if !slices.Contains(methods, m) {
				continue // parameters, summary
			}
			var o struct {
				Scope    string            `json:"x-scope"`
				Security []json.RawMessage `json:"security"`
			}
			_ = json.Unmarshal(op, &o)
			documented[strings.ToUpper(m)+" "+manageBase+path] = o.Scope
		}
	}
	served := map[string]string{}
	for _, rt := range manageRoutes {
		served[rt.method+" "+rt.path] = rt.scope
	}
	for k, scope := range served {
		ds, ok := documented[k]
		if !ok {
			t.Errorf("route %s is not in openapi.json", k)
		} else if ds != scope {
			t.Errorf("%s: x-scope %q, route scope %q", k, ds, scope)
		}
	}
	for k := range documented {
		if _, ok := served[k]; !ok {
			t.Errorf("openapi.json documents %s, which no route serves", k)
		}
	}
	// The mux itself, not only the table.
	for k, scope := range documented {
		method, path, _ := strings.Cut(k, " ")
		st, b := call(t, method, routeURL(s.URL, path), "", "")
		switch {
		case scope == "" && st != http.StatusOK:
			t.Errorf("%s without a key: %d, want 200", k, st)
		case scope != "" && st != http.StatusUnauthorized:
			t.Errorf("%s without a key: %d %s, want 401", k, st, b)
		}
		for _, m := range []string{"GET", "PUT", "POST", "DELETE", "PATCH"} {
			if _, ok := documented[m+" "+path]; ok {
				continue
			}
			if st, b := call(t, m, routeURL(s.URL, path), bearer(writeKey), ""); st != http.StatusMethodNotAllowed {
				t.Errorf("%s %s (undocumented): %d %s, want 405", m, path, st, b)
			}
		}
	}
}

// TestOpenAPIRefsResolve: every "$ref" of the document names a component
// it defines, and every path parameter is declared.
func TestOpenAPIRefsResolve(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				var cur any = doc
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := cur.(map[string]any)
					cur = m[part]
				}
				if cur == nil {
					t.Errorf("$ref %s resolves to nothing", ref)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	paths, _ := doc["paths"].(map[string]any)
	for p, item := range paths {
		declared := map[string]bool{}
		collect := func(params any) {
			list, _ := params.([]any)
			for _, e := range list {
				m, _ := e.(map[string]any)
				if ref, ok := m["$ref"].(string); ok {
					name := strings.TrimPrefix(ref, "#/components/parameters/")
					comp := doc["components"].(map[string]any)["parameters"].(map[string]any)[name]
					m, _ = comp.(map[string]any)
				}
				if m["in"] == "path" {
					declared[m["name"].(string)] = true
				}
			}
		}
		collect(item.(map[string]any)["parameters"])
		for _, seg := range strings.Split(p, "/") {
			if strings.HasPrefix(seg, "{") && !declared[strings.Trim(seg, "{}")] {
				t.Errorf("%s: path parameter %s not declared", p, seg)
			}
		}
	}
}
