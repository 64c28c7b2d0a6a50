package integrations_test

import (
	"os"
	"testing"

	"github.com/onbehalf/onbehalf/onbehalftest"
)

func TestMain(m *testing.M) { os.Exit(onbehalftest.RunWithFakeResolver(m, nil)) }
