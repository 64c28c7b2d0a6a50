package onbehalftest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// TestFixedPasswordCredentials: for a basic entry with a fixed password
// (Freshdesk) the credentials route takes the API key alone, as the
// username input; a password sent with it is refused with 400, nothing
// stored and the provider never called.
func TestFixedPasswordCredentials(t *testing.T) {
	entry, ok := integrations.CatalogEntry("freshdesk")
	if !ok {
		t.Fatal("no freshdesk entry")
	}
	fake := onbehalftest.NewProviderFake(t, entry)
	e := onbehalftest.NewProviderEnv(t, fake)
	path := "/connect/" + e.Key + "/credentials"
	status, body := e.SDK(t, http.MethodPost, path, map[string]any{"inputs": fake.Inputs, "password": "X"})
	if status != http.StatusBadRequest || !strings.Contains(string(body), "password is fixed") || fake.Count("verify") != 0 || e.Connection(t) != nil {
		t.Fatalf("a password for a fixed-password entry: %d %s (verifications %d)", status, body, fake.Count("verify"))
	}
	status, body = e.SDK(t, http.MethodPost, path, map[string]any{"inputs": fake.Inputs})
	if status != http.StatusCreated || fake.Count("verify") != 1 {
		t.Fatalf("the key alone: %d %s", status, body)
	}
	if c := e.Connection(t); c == nil || c.Credential.Username != fake.Username || c.Credential.Password != "" {
		t.Fatalf("stored %+v", c)
	}
}
