package onbehalftest_test

import (
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// TestCatalogConformance runs onbehalftest.Conform for each catalog entry,
// one subtest per entry type: entries added to the catalog are covered
// without a change here, and a broken entry fails its own subtest.
func TestCatalogConformance(t *testing.T) {
	entries := integrations.Catalog()
	if len(entries) == 0 {
		t.Fatal("the catalog is empty or does not load")
	}
	for _, entry := range entries {
		t.Run(entry.Type, func(t *testing.T) { onbehalftest.Conform(t, entry) })
	}
}
