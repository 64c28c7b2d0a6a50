package connect

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// allowedURL is one allowed return-URL prefix, parsed once.
type allowedURL struct {
	scheme, host string // host lower-cased, with its port made explicit
	path         string // "" or "/..." ; matched at a segment boundary
}

// origin returns scheme://host[:port] as a browser names the origin.
func (a allowedURL) origin() string {
	host := a.host
	if h, p, err := net.SplitHostPort(host); err == nil && p == defaultPort(a.scheme) {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	return a.scheme + "://" + host
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// normHost lower-cases a URL's host and adds its default port.
func normHost(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// parseAllowed checks one configured prefix.
func parseAllowed(s string) (allowedURL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return allowedURL{}, errors.New("not a URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.Contains(s, "*") {
		return allowedURL{}, errors.New("must be an absolute http(s) URL prefix without userinfo, query, fragment or wildcard")
	}
	if !cleanPath(u) {
		return allowedURL{}, errors.New("path must not contain dot segments, backslashes or encoded slashes")
	}
	return allowedURL{scheme: u.Scheme, host: normHost(u), path: u.EscapedPath()}, nil
}

// cleanPath refuses paths that browsers and servers may read differently:
// dot segments (also percent-encoded), backslashes, encoded slashes.
func cleanPath(u *url.URL) bool {
	raw := u.EscapedPath()
	low := strings.ToLower(raw)
	if strings.Contains(raw, "\\") || strings.Contains(low, "%2f") || strings.Contains(low, "%5c") ||
		strings.Contains(low, "%2e") || strings.Contains(raw, "//") {
		return false
	}
	for _, seg := range strings.Split(raw, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// matches reports whether u lies under the prefix: same scheme and host,
// path equal to the prefix's or below it at a segment boundary.
func (a allowedURL) matches(u *url.URL) bool {
	if u.Scheme != a.scheme || normHost(u) != a.host {
		return false
	}
	p := u.EscapedPath()
	if a.path == "" || a.path == "/" || p == a.path {
		return true
	}
	prefix := a.path
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return strings.HasPrefix(p, prefix)
}

// checkReturnURL parses a requested return URL and checks it against the
// project's prefixes and its own portal page. It returns the URL to redirect
// to, or an error naming what is wrong (safe to show: it holds no secret).
func (h *Handler) checkReturnURL(project, s string) (string, error) {
	if s == "" {
		return h.PortalURL(project), nil
	}
	if len(s) > 2048 {
		return "", errors.New("returnUrl is too long")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", errors.New("returnUrl must be an absolute http(s) URL without userinfo")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return "", errors.New("returnUrl must not have a fragment")
	}
	if strings.ContainsAny(s, "\\\x00\r\n\t ") || !cleanPath(u) {
		return "", errors.New("returnUrl has a malformed path")
	}
	portal, _ := parseAllowed(h.PortalURL(project))
	portal.path = strings.TrimSuffix(portal.path, "/")
	if portal.matches(u) && u.EscapedPath() == portal.path {
		return u.String(), nil
	}
	for _, a := range h.returns[project] {
		if a.matches(u) {
			return u.String(), nil
		}
	}
	return "", errors.New("returnUrl is not among the project's allowed return URLs")
}

// withQuery returns target with the given parameters added to its query.
func withQuery(target string, params url.Values) string {
	u, err := url.Parse(target)
	if err != nil { // checked at start; cannot happen
		return "/"
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// frameAncestors returns the CSP frame-ancestors sources for a project:
// its own origin and the origins of its return URLs.
func frameAncestors(list []allowedURL) string {
	seen := map[string]bool{}
	out := []string{"'self'"}
	for _, a := range list {
		if o := a.origin(); !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	return strings.Join(out, " ")
}

// origins returns the origins of a project's return URLs.
func (h *Handler) origins(project string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, a := range h.returns[project] {
		if o := a.origin(); !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	return out
}
