package middleware

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/gorilla/mux"
)

// proxyRouter is the reference for matchProxy: the router's four proxy
// routes, as New registers them, reporting the variables they matched.
func proxyRouter(prefix string, got *Route, matched *bool) *mux.Router {
	root := mux.NewRouter().SkipClean(true).UseEncodedPath()
	r := root
	if prefix != "" {
		r = root.PathPrefix(prefix).Subrouter()
	}
	record := http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) {
		v := mux.Vars(req)
		*matched = true
		*got = Route{Kind: RouteProxy, Project: v["project"], Integration: v["integration"], CustomID: v["id"], APIPath: v["path"]}
	})
	sdk := "/projects/{project}/sdk"
	r.Handle(sdk+"/proxy/custom/{id}/{path:.*}", record)
	r.Handle(sdk+"/proxy/custom/{id}", record)
	r.Handle(sdk+"/proxy/{integration}/{path:.*}", record)
	r.Handle(sdk+"/proxy/{integration}", record)
	return root
}

// checkMatchProxy compares matchProxy with the router on one escaped path.
func checkMatchProxy(t *testing.T, prefix, escaped string) {
	t.Helper()
	u, err := url.Parse("http://onbehalf.test" + escaped)
	if err != nil || u.Path == "" || u.RawQuery != "" || u.Fragment != "" {
		return // not a request path a server would route
	}
	var want Route
	matched := false
	req := httptest.NewRequest(http.MethodGet, "http://onbehalf.test/", nil)
	req.URL = u
	proxyRouter(prefix, &want, &matched).ServeHTTP(httptest.NewRecorder(), req)
	got, ok := matchProxy(prefix, u.EscapedPath())
	if ok != matched || got != want {
		t.Fatalf("prefix %q, path %q (escaped %q): matchProxy = %+v, %v; router = %+v, %v",
			prefix, escaped, u.EscapedPath(), got, ok, want, matched)
	}
}

var matchProxySeeds = []string{
	"/projects/p1/sdk/proxy/salesforce/services/data/v59.0/query",
	"/projects/p1/sdk/proxy/salesforce",
	"/projects/p1/sdk/proxy/salesforce/",
	"/projects/p1/sdk/proxy/salesforce//x",
	"/projects/p1/sdk/proxy/custom/abc-123/v1/items",
	"/projects/p1/sdk/proxy/custom/abc-123",
	"/projects/p1/sdk/proxy/custom/abc-123/",
	"/projects/p1/sdk/proxy/custom",
	"/projects/p1/sdk/proxy/custom/",
	"/projects/p1/sdk/proxy/custom//x",
	"/projects/p1/sdk/proxy/custom.tasklab/https://api.example.com/v1",
	"/projects/p1/sdk/proxy/custom.tasklab/https:/api.example.com/v1",
	"/projects/p1/sdk/proxy/",
	"/projects/p1/sdk/proxy",
	"/projects//sdk/proxy/x/y",
	"/projects/p%2F1/sdk/proxy/x/y",
	"/projects/p1/sdk/proxy/a%2Fb/y%2Fz",
	"/projects/p1/sdk/proxy/x/%2e%2e/%2e%2e/admin",
	"/projects/p1/sdk/me",
	"/projects/p1/sdk/integrations",
	"/projects/p1/sdk/connect/salesforce/start",
	"/projects/p1/sdk/proxyx/a",
	"/projects/p1/sdkx/proxy/a",
	"/projectsx/p1/sdk/proxy/a",
	"/api/onbehalf/projects/p1/sdk/proxy/a/b",
	"/api/onbehalfx/projects/p1/sdk/proxy/a/b",
	"/api/onbehalf",
	"/",
	"/projects/p1/sdk/proxy/x/a b/%0A",
}

func TestMatchProxyAgreesWithRouter(t *testing.T) {
	for _, prefix := range []string{"", "/api/onbehalf"} {
		for _, p := range matchProxySeeds {
			checkMatchProxy(t, prefix, p)
		}
	}
}

// FuzzMatchProxy holds the hand-written proxy route matcher to the router on
// arbitrary paths, with and without a mount prefix.
func FuzzMatchProxy(f *testing.F) {
	for _, p := range matchProxySeeds {
		f.Add(p, false)
		f.Add(p, true)
	}
	f.Fuzz(func(t *testing.T, p string, prefixed bool) {
		prefix := ""
		if prefixed {
			prefix = "/api/onbehalf"
		}
		if len(p) == 0 || p[0] != '/' {
			return
		}
		checkMatchProxy(t, prefix, p)
	})
}
