package middleware_test

import (
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestIPLiteralBaseProxies: an integration whose base URL is an address
// inside its AllowAddresses (an on-premises provider) serves relative
// paths; a fully-qualified URL naming an IP literal is still refused.
func TestIPLiteralBaseProxies(t *testing.T) {
	rec := newRecorder(t)
	in := integrations.Config{Type: "onprem", BaseURL: rec.srv.URL + "/base", AllowAddresses: []string{"127.0.0.0/8"},
		Auth: integrations.SchemeConfig{Type: integrations.AuthAPIKey, Name: "X-Api-Key"}}
	e := envWith(t, []integrations.Config{in})
	connect(t, e, "onprem", tokens.Credential{APIKey: "k"}, nil)
	resp := e.Do(t, "GET", e.ProxyURL("onprem", "items"), nil, nil)
	if body := readBody(t, resp); resp.StatusCode != 200 || rec.last(t).Path != "/base/items" {
		t.Fatalf("relative path on an IP-literal base: %d %s", resp.StatusCode, body)
	}
	resp = e.Do(t, "GET", e.ProxyURL("onprem", rec.srv.URL+"/base/items"), nil, nil)
	if b := errorBody(t, resp); resp.StatusCode != 403 || b.Code != "HOST_IP_LITERAL" {
		t.Fatalf("full URL naming the address: %d %s, want 403 HOST_IP_LITERAL", resp.StatusCode, b.Code)
	}
}
