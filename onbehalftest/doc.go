// Package onbehalftest is a kit for testing code that mounts onbehalf: a
// Signer that mints user tokens for a test key, TaskLab (a fake provider with a
// JSON API, a binary file, an echo endpoint and a rotating OAuth2 token
// endpoint), and NewEnv, which wires a handler over an in-memory store with one
// connected user on httptest servers.
//
// It also holds scenarios to run against your own stores and mounts:
// RunReplicaRefresh (several replicas over one store refresh an expired
// token exactly once), RunStoreOutage (with TCPForwarder, the proxy answers
// 503 while the store is away and recovers) and RunWireRows (the WIRE.md
// rows through a handler mounted under a prefix).
//
//	func TestMyFeature(t *testing.T) {
//		e := onbehalftest.NewEnv(t)
//		resp := e.Do(t, "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, nil)
//		// resp is {"output": {"tasks": [...]}}
//	}
package onbehalftest
