// Package hosts keeps proxied requests, and the credentials they carry, on
// the hosts an integration permits and out of internal networks.
//
// It works in two places. At parse time, Resolve turns the caller's API path
// or URL into the target URL: it confines relative paths under the base
// URL's path, and checks an absolute URL's host against the base host and an
// Allowlist, its scheme and port against a Policy, and refuses IP literals in
// any encoding. At dial time, the transport from NewTransport runs a Guard
// on every resolved address, so a permitted name that resolves (or
// re-resolves, DNS rebinding) to a loopback, private, link-local or other
// special address is refused before any connection is made.
//
// The smallest wiring:
//
//	allow, err := hosts.NewAllowlist("*.googleapis.com")
//	if err != nil { ... }
//	policy := &hosts.Policy{Allow: allow} // https only, default ports
//	transport, err := hosts.NewTransport(hosts.TransportConfig{}) // deny private ranges, no env proxy
//	if err != nil { ... }
//
//	// per request:
//	base, _ := url.Parse("https://sheets.googleapis.com/v4") // the integration's base URL
//	target, err := hosts.Resolve(base, apiPath, policy)
//	if err != nil { ... } // errors.Is(err, hosts.ErrHostNotAllowed), ...
//	proxy := &httputil.ReverseProxy{
//		Rewrite:   func(r *httputil.ProxyRequest) { r.Out.URL = target; r.Out.Host = "" },
//		Transport: transport,
//	}
//
// Internationalized host names are accepted in punycode only ("xn--..."):
// the standard library has no IDNA mapping, and mapping look-alike Unicode
// (fullwidth letters and dots, the Kelvin sign) is how allowlists get
// bypassed, so raw non-ASCII host names are refused.
package hosts
