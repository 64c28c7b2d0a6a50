package lifecycle_test

import (
	"testing"

	"github.com/onbehalf/onbehalf/lifecycle"
	"github.com/onbehalf/onbehalf/lifecycle/outboxtest"
)

func TestMemoryOutbox(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T) outboxtest.Open {
		o := lifecycle.NewMemoryOutbox()
		return func() lifecycle.Outbox { return o } // nothing to reopen: one process
	})
}
