package pgstore_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
	"github.com/onbehalf/onbehalf/tokens/pgstore"
)

// Three replicas (separate handlers, transports, Refreshers and pools, two
// of them with their own Cached in front) share one database. 300
// concurrent requests on a connection whose access token has expired, against
// a token endpoint that rotates refresh tokens and answers invalid_grant to a
// reused one: every request succeeds and the token endpoint is called once.
func TestReplicasRefreshOnce(t *testing.T) {
	shared, _, table := newStore(t)
	onbehalftest.RunReplicaRefresh(t, onbehalftest.ReplicaConfig{
		Store: shared, Locker: shared, Cached: 2,
		NewReplica: func(t *testing.T, _ int) (tokens.Store, tokens.Locker) {
			s, err := pgstore.New(pgstore.Config{Pool: newPool(t), Table: table})
			if err != nil {
				t.Fatal(err)
			}
			return s, s
		},
	})
}

// When Postgres goes away the proxy answers 503 STORE_UNAVAILABLE and sends
// nothing upstream; when it comes back, the same handler (and pool) serves
// again.
func TestProxyStoreUnavailable(t *testing.T) {
	_, _, table := newStore(t)
	cfg, err := pgxpool.ParseConfig(pgDSN())
	if err != nil {
		t.Fatal(err)
	}
	fwd := onbehalftest.NewTCPForwarder(t, cfg.ConnConfig.Host+":"+strconv.Itoa(int(cfg.ConnConfig.Port)))
	host, port, _ := net.SplitHostPort(fwd.Addr())
	cfg.ConnConfig.Host = host
	p, _ := strconv.Atoi(port)
	cfg.ConnConfig.Port = uint16(p)
	cfg.ConnConfig.Fallbacks = nil
	cfg.ConnConfig.ConnectTimeout = time.Second
	viaFwd, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(viaFwd.Close)
	s, err := pgstore.New(pgstore.Config{Pool: viaFwd, Table: table, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	onbehalftest.RunStoreOutage(t, onbehalftest.OutageConfig{Store: s, Locker: s, Link: fwd, Name: "Postgres"})
}
