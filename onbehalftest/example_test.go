package onbehalftest_test

import (
	"context"
	"fmt"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// A Signer mints user tokens that the Auth stage accepts with its KeyConfig.
func ExampleSigner_Token() {
	s, _ := onbehalftest.NewSigner("test-key")
	auth, _ := middleware.NewAuth(middleware.AuthConfig{
		Projects: []middleware.ProjectConfig{{ID: "acme", Keys: []middleware.KeyConfig{s.KeyConfig()}}},
	})
	defer auth.Close()
	tok, _ := s.Token("acme", "user-7")
	p, err := auth.Verify(context.Background(), "acme", tok)
	fmt.Println(p.Project, p.User, err)
	// Output: acme user-7 <nil>
}
