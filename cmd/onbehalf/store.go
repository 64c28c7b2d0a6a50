package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/tokens"
	"github.com/onbehalf/onbehalf/tokens/pgstore"
	"github.com/onbehalf/onbehalf/tokens/redisstore"
)

// stores is what the config's store section opens.
type stores struct {
	conns    tokens.Store    // sealed when configured; counted by metrics
	locker   tokens.Locker   // nil for memory: one process
	metadata tokens.Metadata // user metadata
	// states keeps pending connect flows; nil means connect's in-memory
	// store (one process).
	states connect.StateStore
	// ping checks that the backing store answers (readiness).
	ping  func(context.Context) error
	close func()
}

// openStores opens the configured store. For Postgres it migrates the schema
// first when migrate is true.
func openStores(ctx context.Context, c StoreConfig, migrate bool) (*stores, error) {
	var s *stores
	switch c.Type {
	case "memory":
		s = &stores{conns: tokens.NewMemoryStore(), metadata: &tokens.MemoryMetadata{},
			ping: func(context.Context) error { return nil }, close: func() {}}
	case "redis":
		opt := &redis.Options{Addr: c.Redis.Addr, Username: c.Redis.Username, Password: c.Redis.Password, DB: c.Redis.DB}
		if c.Redis.TLS {
			opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		rdb := redis.NewClient(opt)
		rs, err := redisstore.New(redisstore.Config{Client: rdb, Prefix: c.Redis.Prefix})
		if err != nil {
			_ = rdb.Close()
			return nil, err
		}
		s = &stores{conns: rs, locker: rs, metadata: rs.Metadata(), states: rs.States(),
			ping:  func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
			close: func() { _ = rdb.Close() }}
	case "postgres":
		pcfg, err := pgxpool.ParseConfig(c.Postgres.URL)
		if err != nil {
			// pgx's message may quote the URL, password included: not shown.
			return nil, errors.New("store.postgres.url: not a valid connection string")
		}
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			return nil, fmt.Errorf("postgres: %w", tokens.ErrUnavailable)
		}
		ps, err := pgstore.New(pgstore.Config{Pool: pool, Table: c.Postgres.Table})
		if err != nil {
			pool.Close()
			return nil, err
		}
		if migrate {
			if err := ps.Migrate(ctx); err != nil {
				pool.Close()
				return nil, err
			}
		}
		s = &stores{conns: ps, locker: ps, metadata: ps.Metadata(), ping: pool.Ping, close: pool.Close}
	default:
		return nil, fmt.Errorf("unknown store type %q", c.Type)
	}
	if z := c.Sealing; z != nil {
		ring := tokens.KeyRing{Keys: map[string][]byte{}, Current: z.Current}
		for id, k := range z.Keys {
			b, err := base64.StdEncoding.DecodeString(k)
			if err != nil {
				s.close()
				return nil, fmt.Errorf("store.sealing.keys.%s: not base64", id)
			}
			ring.Keys[id] = b
		}
		sealed, err := tokens.NewSealed(s.conns, ring)
		if err != nil {
			s.close()
			return nil, err
		}
		s.conns = sealed
		if s.states != nil {
			// A chooser's pending token waits in the shared state store:
			// sealed with the same keys.
			if s.states, err = connect.NewSealedStates(s.states, sealed); err != nil {
				s.close()
				return nil, err
			}
		}
	}
	return s, nil
}
