// Package redisstore keeps onbehalf connections in Redis and coordinates
// their refreshes across replicas: its Store is both a tokens.Store and a
// tokens.Locker. It is a module of its own, so the core module does not
// depend on go-redis.
//
// The smallest wiring, for several replicas sharing one Redis:
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379"})
//	shared, err := redisstore.New(redisstore.Config{Client: rdb})
//	if err != nil {
//		return err
//	}
//	refresher, err := tokens.NewRefresher(tokens.RefresherConfig{Store: shared, Locker: shared})
//	if err != nil {
//		return err
//	}
//	h, err := middleware.New(middleware.Config{Projects: projects, Store: shared, Refresher: refresher})
//
// To keep tokens encrypted at rest and spare Redis a read per request, wrap
// it, and give the Refresher the wrapped store (it invalidates the cache
// before it re-reads under the lock) with the Redis Locker:
//
//	sealed, err := tokens.NewSealed(shared, tokens.KeyRing{Keys: keys, Current: "2025-01"})
//	store, err := tokens.NewCached(sealed, tokens.CachedConfig{TTL: 10 * time.Second})
//	refresher, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store, Locker: shared})
//
// Data layout: one hash per connection (its JSON in field "d", the version,
// timestamps and index member beside it) and one sorted set per (project,
// user) that orders the user's connections for List and names each
// integration's default connection. The keys of one user share a Redis
// Cluster hash tag. Save's compare-and-swap, creation and Delete are Lua
// scripts. A lease is SET key token NX PX ttl, released and extended only by
// its holder through compare-and-delete and compare-and-expire scripts.
//
// The tests run the tokens/storetest conformance suites against a real Redis
// (ONBEHALF_REDIS_ADDR, default 127.0.0.1:6379); without one they are
// skipped, unless CI=true.
//
// Lifecycle events: Store.Outbox is a lifecycle.Outbox (a sorted set and a
// hash under P{outbox}:, claimed by a Lua script) for lifecycle.Emitter and
// lifecycle.Dispatcher; see docs/events.md.
package redisstore
