// Command onbehalf is the production server: the onbehalf proxy, the
// connect flow and Connect Portal, and a management API for a host backend
// written in any language, configured by one JSON file.
//
//	cd cmd/onbehalf && go install .          # from a clone of the repository
//	onbehalf -check -config onbehalf.json    # print every problem by its JSON path
//	onbehalf migrate -config onbehalf.json   # Postgres: create or update the tables
//	onbehalf -config onbehalf.json           # serve
//
// Secrets are never written in the file: a secret field takes a reference
// to an environment variable, {"env": "SALESFORCE_CLIENT_SECRET"}.
// Connections live in memory, Redis or Postgres, optionally sealed at rest
// with rotating keys. Routes on the main listener:
//
//	/projects/{project}/sdk/...   the proxy, /sdk/me, connect and the portal (under publicUrl's path)
//	/manage/v1/...                the management API (API keys; openapi.json describes it)
//	/healthz, /readyz             liveness, and readiness (the store answers)
//
// and /metrics (Prometheus) on metricsListen. SIGTERM drains requests and
// refreshes in flight before exit. docs/server.md is the reference.
package main
