package connect

import (
	"context"
	"net/http"
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

type nopVerifier struct{}

func (nopVerifier) VerifyUser(_ context.Context, _, _ string) (string, error) { return "u", nil }

// TestClientIgnoresEnvProxy: code exchanges and revocations carry the
// client secret, the code and tokens; an HTTP(S)_PROXY left in the
// environment must not route them through a third party. The default
// client and a configured one without a Transport both go direct.
func TestClientIgnoresEnvProxy(t *testing.T) {
	reg, err := integrations.NewStaticRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*http.Client{nil, {Timeout: 5e9}} {
		h, err := New(Config{Registry: reg, Store: tokens.NewMemoryStore(), Auth: nopVerifier{},
			PublicURL: "https://app.example.com/api", HTTPClient: c})
		if err != nil {
			t.Fatal(err)
		}
		tr, ok := h.client.Transport.(*http.Transport)
		if !ok || tr.Proxy != nil {
			t.Fatalf("client %v: transport %T with a Proxy func; want one that never reads the environment", c, h.client.Transport)
		}
	}
}
