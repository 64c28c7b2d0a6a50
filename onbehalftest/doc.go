// Package onbehalftest is a kit for testing code that mounts onbehalf: a
// Signer that mints user tokens for a test key, TaskLab (a fake provider with a
// JSON API, a binary file, an echo endpoint and a rotating OAuth2 token
// endpoint), and NewEnv, which wires a handler over an in-memory store with one
// connected user on httptest servers.
//
//	func TestMyFeature(t *testing.T) {
//		e := onbehalftest.NewEnv(t)
//		resp := e.Do(t, "GET", e.ProxyURL("custom.tasklab", "tasks"), nil, nil)
//		// resp is {"output": {"tasks": [...]}}
//	}
package onbehalftest
