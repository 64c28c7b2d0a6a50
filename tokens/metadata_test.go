package tokens_test

import (
	"testing"

	"github.com/onbehalf/onbehalf/tokens"
	"github.com/onbehalf/onbehalf/tokens/storetest"
)

func TestMemoryMetadata(t *testing.T) { storetest.RunMetadata(t, &tokens.MemoryMetadata{}) }
