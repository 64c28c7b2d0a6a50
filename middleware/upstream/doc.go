// Package upstream is the proxy's round trip to the provider: the Forwarder
// (an httputil.ReverseProxy with Rewrite) and the chain of RoundTrippers
// under it. Read from the top:
//
//	Forwarder.ServeHTTP   body cap, concurrency bound, retry and timeout options, deadline
//	Rewrite               the client's headers filtered, "Content-Type: auto" resolved,
//	                      the credential applied on the outbound copy only
//	credentialTransport   on a 401 to an OAuth2 token: refresh once, replay once;
//	                      redirects followed, the credential kept to its origin
//	retryTransport        resend on retryable statuses and refused connections
//	throttleTransport     wait for (or refuse past) the connection's allowance
//	guardedTransport      the integration's transport: dial-time address checks
//	response.Responder    JSON envelope or raw stream on the way back
//
// The Forwarder reads the request's facts from a State in its context:
// middleware.Handler's request state carries one (upstream.StateKey); used
// alone, give it one with WithState:
//
//	fwd, err := upstream.New(upstream.Config{})
//	if err != nil {
//		log.Fatal(err)
//	}
//	ctx := upstream.WithState(r.Context(), &upstream.State{Integration: in, Connection: conn, Target: target})
//	fwd.ServeHTTP(w, r.WithContext(ctx))
//
// Classify is the one place that maps the errors of hosts, tokens and the
// transport to the JSON error of package response; the middleware stages
// use it too.
package upstream
