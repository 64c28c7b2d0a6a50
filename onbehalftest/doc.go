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
// Tests never reach beyond loopback: FakeResolver answers host names from an
// in-memory table of this machine's addresses (an unknown name fails and is
// recorded in Unknown), NewEnv resolves the upstream, token endpoint and
// JWKS through one (Env.Resolver), and RunWithFakeResolver, as a package's
// TestMain, puts one in place of net.DefaultResolver:
//
//	func TestMain(m *testing.M) { os.Exit(onbehalftest.RunWithFakeResolver(m, nil)) }
//
//	func TestMyFeature(t *testing.T) {
//		e := onbehalftest.NewEnv(t)
//		resp := e.Do(t, "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, nil)
//		// resp is {"output": {"tasks": [...]}}
//	}
package onbehalftest
