// Package tokens holds users' connections to third-party APIs and keeps
// their credentials usable: the Connection and Credential types, the Store
// interface with an in-memory implementation and two decorators (Cached,
// an in-process read cache; Sealed, AES-256-GCM encryption at rest), and the
// Refresher, which refreshes OAuth2 access tokens at most once at a time per
// connection, coordinated across processes by a Locker.
//
// The smallest wiring: a store, and a refresher over it.
//
//	store := tokens.NewMemoryStore()
//	refresher, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store})
//	if err != nil {
//		return err
//	}
//	grant := tokens.RefreshTokenGrant{Config: &oauth2.Config{
//		ClientID: id, ClientSecret: secret,
//		Endpoint: oauth2.Endpoint{TokenURL: "https://provider.example/oauth/token"},
//	}}
//	conn, err := store.Get(ctx, tokens.Key{Project: p, User: u, Integration: "salesforce"})
//	if err != nil {
//		return err
//	}
//	conn, err = refresher.Fresh(ctx, conn, grant, "") // refreshed and saved when due
//
// With several replicas, give them a shared Store and a shared Locker (the
// nested modules tokens/redisstore and tokens/pgstore hold those); wrap the store in NewSealed to keep
// secrets encrypted at rest, and in NewCached to spare it a read per request:
//
//	sealed, err := tokens.NewSealed(shared, tokens.KeyRing{Keys: keys, Current: "2025-01"})
//	store, err := tokens.NewCached(sealed, tokens.CachedConfig{})
//
// Across replicas, the Refresher holds a short lease (DefaultLeaseTTL) that
// it extends by heartbeat, records a RefreshIntent on the connection before
// it spends a refresh token, and refreshes a token no earlier than halfway
// through its life (MaxMarginFraction). Call Shutdown before exiting so the
// refreshes in flight are saved. docs/refresh-lifecycle.md explains each.
//
// Every Store and Locker implementation runs the conformance suite in
// package tokens/storetest. Errors are sentinels (ErrNotFound, ErrConflict,
// ErrUnavailable, ErrReauthRequired, ErrRefreshFailed, ErrRefreshTimeout,
// ErrRefreshLost, ErrRefresherShutDown, ErrSealed, ErrNotHeld) wrapped with
// the connection's key; no error text holds a token, a secret or a token
// endpoint's answer.
package tokens
