package main

import (
	"os"
	"testing"

	"github.com/onbehalf/onbehalf/onbehalftest"
)

// TestMain sends every name lookup that a test does not route to a resolver
// of its own to an in-memory table, so that no test reaches the machine's
// resolver or a real host.
func TestMain(m *testing.M) { os.Exit(onbehalftest.RunWithFakeResolver(m, nil)) }
