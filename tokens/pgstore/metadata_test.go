package pgstore_test

import (
	"testing"

	"github.com/onbehalf/onbehalf/tokens/storetest"
)

func TestMetadata(t *testing.T) {
	s, _, _ := newStore(t)
	storetest.RunMetadata(t, s.Metadata())
}
