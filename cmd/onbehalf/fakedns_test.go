package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/onbehalf/onbehalf/onbehalftest"
)

// TestMain sends every name lookup that a test does not route to a resolver
// of its own to an in-memory table, so that no test reaches the machine's
// resolver or a real host ("provider.test" is the loopback fake provider,
// under a name, for the dial guard's test); then it removes the binary the end-to-end tests
// built.
func TestMain(m *testing.M) {
	code := onbehalftest.RunWithFakeResolver(m, map[string][]string{"provider.test": {"127.0.0.1"}})
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}
