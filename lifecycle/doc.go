// Package lifecycle tells the host app what happens to its users'
// connections: created, refreshed, refresh failing, re-authorization
// required, recovered, verification failed, deleted. Events reach typed Go
// handlers at once, and signed webhooks through an Outbox kept in the store,
// so a restart between an event and its delivery loses nothing.
//
// The smallest wiring, in one process (use redisstore's or pgstore's Outbox
// to share it and survive restarts):
//
//	outbox := lifecycle.NewMemoryOutbox()
//	emitter, _ := lifecycle.NewEmitter(lifecycle.EmitterConfig{Outbox: outbox})
//	emitter.Subscribe(func(ctx context.Context, ev lifecycle.Event) { log.Println(ev.Type, ev.ConnectionID) })
//
//	onRefresh, onFailed := lifecycle.RefreshHooks(emitter)
//	refresher, _ := tokens.NewRefresher(tokens.RefresherConfig{Store: store,
//		OnRefresh: onRefresh, OnRefreshFailed: onFailed})
//	connectHandler, _ := connect.New(connect.Config{ /* ... */ Events: emitter})
//
//	dispatcher, _ := lifecycle.NewDispatcher(lifecycle.DispatcherConfig{Outbox: outbox,
//		Endpoints: []lifecycle.Endpoint{{URL: "https://app.example.com/hooks/onbehalf", Secret: secret}}})
//	dispatcher.Start()
//	defer dispatcher.Close()
//
// A receiver checks each request with Verify and de-duplicates by the
// EventIDHeader. See docs/events.md for the payload, the signature scheme
// and the delivery guarantees.
package lifecycle
