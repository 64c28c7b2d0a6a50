// Package pgstore keeps onbehalf connections in Postgres and coordinates
// their refreshes across replicas: its Store is both a tokens.Store and a
// tokens.Locker. It is a module of its own, so the core module does not
// depend on pgx.
//
// The smallest wiring, for several replicas sharing one database:
//
//	pool, err := pgxpool.New(ctx, "postgres://onbehalf@db:5432/app")
//	if err != nil {
//		return err
//	}
//	shared, err := pgstore.New(pgstore.Config{Pool: pool})
//	if err != nil {
//		return err
//	}
//	if err := shared.Migrate(ctx); err != nil { // or apply pgstore.Schema yourself
//		return err
//	}
//	refresher, err := tokens.NewRefresher(tokens.RefresherConfig{Store: shared, Locker: shared})
//	if err != nil {
//		return err
//	}
//	h, err := middleware.New(middleware.Config{Projects: projects, Store: shared, Refresher: refresher})
//
// To keep tokens encrypted at rest and spare the database a read per
// request, wrap it, and give the Refresher the wrapped store with the
// Postgres Locker:
//
//	sealed, err := tokens.NewSealed(shared, tokens.KeyRing{Keys: keys, Current: "2025-01"})
//	store, err := tokens.NewCached(sealed, tokens.CachedConfig{TTL: 10 * time.Second})
//	refresher, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store, Locker: shared})
//
// The schema is the constant Schema: one row per connection (credential and
// fields as jsonb), compare-and-swap on its version column, and a lease
// table whose rows expire by their expires_at, judged by the database's
// clock, so a crashed holder blocks a key for one lease at most.
//
// The tests run the tokens/storetest conformance suites against a real
// Postgres (ONBEHALF_PG_DSN, default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable); without one they
// are skipped, unless CI=true.
//
// Lifecycle events: Store.Outbox is a lifecycle.Outbox (the table
// Table+"_outbox", created by its Migrate, claimed FOR UPDATE SKIP LOCKED)
// for lifecycle.Emitter and lifecycle.Dispatcher; see docs/events.md.
package pgstore
