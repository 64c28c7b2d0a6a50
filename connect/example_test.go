package connect_test

import (
	"fmt"
	"log"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// The connect handler shares the registry and the store with the proxy and
// is mounted as middleware.Config.Connect.
func Example() {
	signer, _ := onbehalftest.NewSigner("k1")
	projects := []middleware.ProjectConfig{{ID: "acme-prod", Keys: []middleware.KeyConfig{signer.KeyConfig()}}}
	reg, _ := integrations.NewStaticRegistry(map[string][]integrations.Config{"acme-prod": {
		onbehalftest.TaskLabIntegration("https://tasklab.example.com/api", "client-id", "client-secret"),
	}})
	auth, _ := middleware.NewAuth(middleware.AuthConfig{Projects: projects})
	defer auth.Close()
	store := tokens.NewMemoryStore()

	ch, err := connect.New(connect.Config{
		Registry: reg, Store: store, Auth: auth,
		PublicURL:  "https://app.example.com/api/integrations",
		ReturnURLs: map[string][]string{"acme-prod": {"https://app.example.com/settings/"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	h, err := middleware.New(middleware.Config{Projects: projects, Registry: reg, Store: store, Connect: ch})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	fmt.Println("register:", ch.RedirectURI("acme-prod"))
	fmt.Println("portal:  ", ch.PortalURL("acme-prod")+"#token=<user token>")
	// Output:
	// register: https://app.example.com/api/integrations/projects/acme-prod/sdk/connect/callback
	// portal:   https://app.example.com/api/integrations/projects/acme-prod/sdk/portal#token=<user token>
}
