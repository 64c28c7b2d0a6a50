package redisstore_test

import (
	"testing"

	"github.com/onbehalf/onbehalf/tokens/redisstore"
	"github.com/onbehalf/onbehalf/tokens/storetest"
)

func TestMetadata(t *testing.T) {
	rdb := newClient(t)
	s, err := redisstore.New(redisstore.Config{Client: rdb, Prefix: testPrefix(t, rdb)})
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunMetadata(t, s.Metadata())
}
