package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// schemaRun is what schema.cjs prints.
type schemaRun struct {
	OK            bool     `json:"ok"`
	Error         string   `json:"error"`
	Steps         []string `json:"steps"`
	Expanded      string   `json:"expanded"`
	InputFocused  bool     `json:"inputFocused"`
	Placeholder   string   `json:"placeholder"`
	DescribedBy   string   `json:"describedBy"`
	Required      string   `json:"required"`
	SecretType    string   `json:"secretType"`
	Invalid       string   `json:"invalid"`
	FieldError    string   `json:"fieldError"`
	Choices       int      `json:"choices"`
	Chosen        string   `json:"chosen"`
	PopupURL      string   `json:"popupUrl"`
	Status        string   `json:"status"`
	ConsoleErrors []string `json:"consoleErrors"`
	Screenshots   []string `json:"screenshots"`
}

// TestPortalInputsAndChooserInBrowser: a per-tenant provider whose
// connection needs an input (the shop) and a lookup with a chooser (the
// account), connected in Chromium with the keyboard through the portal.
func TestPortalInputsAndChooserInBrowser(t *testing.T) {
	chromium, dir := browser(t)
	cfg := integrations.Config{Type: "custom", Slug: "shoplike", Name: "ShopLike",
		BaseURL: "https://{shop}.shops.fake.test/admin/{account}", AllowedHosts: []string{"*.shops.fake.test"},
		Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2, AuthURL: "https://{shop}.shops.fake.test/oauth/authorize",
			TokenURL: "https://{shop}.shops.fake.test/oauth/token", Scopes: []string{"read"}, TokenBody: integrations.TokenBodyJSON},
		Inputs: []integrations.Input{{Name: "shop", Label: "Shop name", Pattern: "[a-z0-9][a-z0-9-]{0,39}", Example: "acme",
			Help: "The first part of your shop's address, before .shops.fake.test."},
			{Name: "api_key", Label: "Reporting key", Secret: true, Optional: true}},
		Lookups: []integrations.Lookup{{URL: "https://id.shops.fake.test/accounts", Items: "accounts",
			Fields: map[string]string{"account": "id"}, Label: "name", Choose: integrations.ChooseUser}},
		Verify: &integrations.Verification{Path: "/me"}}
	fake := onbehalftest.NewProviderFake(t, cfg, onbehalftest.ProviderFakeOptions{Inputs: map[string]string{"shop": "acme"}})
	e := onbehalftest.NewProviderEnv(t, fake)

	artifacts := filepath.Join(dir, "artifacts")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(map[string]any{"chromium": chromium,
		"portalUrl": e.Connect.PortalURL(e.Project) + "#token=" + e.Signer.MustToken(e.Project, e.User),
		"artifacts": artifacts, "name": "portal-inputs", "integration": "ShopLike", "inputLabel": "Shop name",
		"hostSuffix": "shops.fake.test", "badValue": "Not A Shop!", "goodValue": "acme"})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "schema.cjs"), string(in))
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("schema.cjs: %v\n%s", err, stderr.String())
	}
	var r schemaRun
	if err := json.Unmarshal(bytes.TrimSpace(outb), &r); err != nil {
		t.Fatalf("schema.cjs printed %q: %v", outb, err)
	}
	for _, p := range r.Screenshots {
		t.Logf("screenshot: %s", p)
	}
	if !r.OK {
		t.Fatalf("browser run failed after %v: %s\nconsole: %v\nviolations: %v", r.Steps, r.Error, r.ConsoleErrors, fake.Violations())
	}
	if len(r.ConsoleErrors) > 0 { // CSP violations show up here
		t.Errorf("console errors: %v", r.ConsoleErrors)
	}
	if r.Expanded != "true" || !r.InputFocused || r.Placeholder != "acme" || r.Required != "true" ||
		!strings.Contains(r.DescribedBy, "-help") {
		t.Errorf("inputs step: expanded %q focused %v placeholder %q required %q describedby %q",
			r.Expanded, r.InputFocused, r.Placeholder, r.Required, r.DescribedBy)
	}
	if r.SecretType != "password" {
		t.Errorf("a secret input must be masked: type %q", r.SecretType)
	}
	if r.Invalid != "true" || !strings.Contains(r.FieldError, "expected form") {
		t.Errorf("bad input: aria-invalid %q, error %q", r.Invalid, r.FieldError)
	}
	if r.Choices != 2 || r.Chosen != "Site 2" || !strings.Contains(r.PopupURL, "/connect/callback") {
		t.Errorf("chooser: %d choices, chose %q at %s", r.Choices, r.Chosen, r.PopupURL)
	}
	if !strings.Contains(r.Status, "ShopLike is connected.") {
		t.Errorf("status %q", r.Status)
	}
	c := e.Connection(t)
	if c == nil || c.Fields["shop"] != "acme" || c.Fields["account"] != fake.Expected["account"] {
		t.Fatalf("saved connection: %+v", c)
	}
	if fake.Count("verify") != 1 || fake.Count("authorize") != 1 {
		t.Errorf("verifications %d, authorizations %d", fake.Count("verify"), fake.Count("authorize"))
	}
	if status, body := e.SDK(t, "GET", "/proxy/custom.shoplike/orders", nil); status != 200 {
		t.Fatalf("proxy: %d %s", status, body)
	}
	if v := fake.Violations(); len(v) > 0 {
		t.Fatalf("violations: %v", v)
	}
}
