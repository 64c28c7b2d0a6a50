package integrations_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestLookupWhere: lookups[].where keeps the items whose path holds the
// value or a list containing it (numbers and booleans by their JSON text),
// and drops the others; a where that drops every item of a required lookup
// is lookup_empty. Bad where paths and empty values are refused at load.
func TestLookupWhere(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[
			{"id": "c1", "name": "Wiki", "scopes": ["read:confluence-content.all"], "meta": {"active": true}},
			{"id": "j1", "name": "Jira A", "scopes": ["write:jira-work", "read:jira-work"], "meta": {"active": true}},
			{"id": "j2", "name": "Jira B", "scopes": ["read:jira-work"], "meta": {"active": false}},
			{"id": "x", "name": "Odd", "scopes": "read:jira-work", "meta": {"active": true}},
			{"id": "n", "name": "None"}
		]`))
	}))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	ctx, client := resolverCtx(t)
	run := func(where map[string]string) ([]integrations.LookupItem, error) {
		t.Helper()
		cfg := tenantConfig(port)
		cfg.Capture = nil
		cfg.Lookups = []integrations.Lookup{{URL: "http://{shop}.shops.test:" + port + "/resources",
			Fields: map[string]string{"site": "id"}, Label: "name", Choose: integrations.ChooseUser, Where: where}}
		in, err := integrations.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return in.RunLookup(ctx, client, &tokens.Connection{Fields: map[string]string{"shop": "acme"},
			Credential: tokens.Credential{AccessToken: "at"}}, 0)
	}
	ids := func(items []integrations.LookupItem) string {
		var out []string
		for _, it := range items {
			out = append(out, it.Fields["site"])
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		where map[string]string
		want  string
	}{
		{nil, "c1,j1,j2,x,n"},
		{map[string]string{"scopes": "read:jira-work"}, "j1,j2,x"},
		{map[string]string{"scopes": "read:jira-work", "meta.active": "true"}, "j1,x"},
		{map[string]string{"name": "Wiki"}, "c1"},
	} {
		items, err := run(tc.where)
		if err != nil || ids(items) != tc.want {
			t.Errorf("where %v: %s %v, want %s", tc.where, ids(items), err, tc.want)
		}
	}
	if _, err := run(map[string]string{"scopes": "read:bitbucket"}); err == nil || !strings.Contains(err.Error(), integrations.CodeLookupEmpty) {
		t.Errorf("a where that matches nothing: %v, want %s", err, integrations.CodeLookupEmpty)
	}

	for _, bad := range []struct{ path, value, want string }{
		{"a..b", "x", `lookups[0].where.a..b: "a..b" is not a dotted path`},
		{"scopes", "", "lookups[0].where.scopes: needs a value"},
	} {
		cfg := tenantConfig(port)
		cfg.Capture = nil
		cfg.Lookups = []integrations.Lookup{{URL: "http://{shop}.shops.test:" + port + "/resources",
			Fields: map[string]string{"site": "id"}, Where: map[string]string{bad.path: bad.value}}}
		if _, err := integrations.New(cfg); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("where %q=%q: %v, want %q", bad.path, bad.value, err, bad.want)
		}
	}
}
