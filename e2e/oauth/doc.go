// Package oauth holds end-to-end tests of onbehalf's OAuth2 refresh, and of
// package connect's authorization code flow with PKCE, against a real
// authorization server: github.com/ory/fosite, with refresh-token rotation,
// reuse detection and enforced S256 PKCE, embedded in an httptest server;
// and of three replicas in separate processes (the test binary run again)
// sharing Redis or Postgres, one of them killed mid-refresh.
//
// It is a module of its own so that fosite and its dependencies stay out of
// the core module's go.mod. It has no API; run it with
//
//	cd e2e/oauth && go test -race ./...
//	cd e2e/oauth && go test -run '^$' -bench ValidToken -benchmem
package oauth
