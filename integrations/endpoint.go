package integrations

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/tokens"
)

// endpoint is a templated absolute URL of the connection's life: an OAuth
// endpoint or a lookup. Its host is either static (staticHost) or comes from
// the connection (dynamic), in which case the expanded host must match
// AllowedHosts each time it is used.
type endpoint struct {
	path       string // JSON path of the config value, for errors
	tpl        *template
	staticHost string // lower-case host (without port) when no placeholder stands in the authority
}

// authority returns the authority part of a URL template's source and
// whether a placeholder stands in it (or before it: "{instance_url}/x").
func authority(src string) (auth string, dynamic bool) {
	rest := src
	i := strings.Index(rest, "://")
	if i < 0 || strings.Contains(rest[:i], "{") {
		return "", true
	}
	rest = rest[i+3:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	return rest, strings.Contains(rest, "{")
}

// compileEndpoint checks an absolute URL template. A static host must be a
// host name and, when mustCover, be the base URL's host or allowed by
// AllowedHosts; a placeholder host needs AllowedHosts that can cover it.
func (in *Integration) compileEndpoint(d *declared, path, src string, st stage, li int, mustCover bool) (*endpoint, error) {
	t, err := d.checkTemplate(path, src, st, li, false)
	if err != nil {
		return nil, err
	}
	ep := &endpoint{path: path, tpl: t}
	auth, dynamic := authority(src)
	if !dynamic {
		u, err := url.Parse(src)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
			return nil, cfgErr(path, "must be an absolute http(s) URL without userinfo or fragment")
		}
		h := strings.ToLower(u.Hostname())
		if err := hosts.CheckHost(h); err != nil && !allowedAddress(h, in.addrs) {
			return nil, cfgErr(path, "%v", err)
		}
		if mustCover && !in.coversHost(h) {
			return nil, cfgErr(path, "host %q is not covered by allowedHosts", h)
		}
		ep.staticHost = h
		return ep, nil
	}
	if len(in.cfg.AllowedHosts) == 0 {
		return nil, cfgErr(path, "a host that comes from the connection needs allowedHosts to check it against")
	}
	if auth != "" {
		// The host's fixed parts must be ones AllowedHosts can match: a
		// probe label in place of each placeholder must be allowed.
		probe := auth
		if h, _, ok := strings.Cut(probe, ":"); ok && !strings.Contains(h, "{") {
			probe = h
		}
		for strings.Contains(probe, "{") {
			i := strings.IndexByte(probe, '{')
			j := strings.IndexByte(probe[i:], '}')
			if j < 0 {
				break
			}
			probe = probe[:i] + "tenant" + probe[i+j+1:]
		}
		if h, _, ok := strings.Cut(probe, ":"); ok {
			probe = h
		}
		if !in.policy.Allow.Allows(probe) {
			return nil, cfgErr(path, "host %q is not covered by allowedHosts", auth)
		}
	}
	return ep, nil
}

// coversHost reports whether h is the base URL's static host or allowed by AllowedHosts.
func (in *Integration) coversHost(h string) bool {
	if in.baseStatic != nil && strings.EqualFold(in.baseStatic.Hostname(), h) {
		return true
	}
	if !in.hostDyn && in.baseStatic == nil {
		// A base URL templated in its path only: its host is static.
		if a, _ := authority(in.cfg.BaseURL); a != "" {
			bh := a
			if x, _, ok := strings.Cut(a, ":"); ok {
				bh = x
			}
			if strings.EqualFold(bh, h) {
				return true
			}
		}
	}
	return in.policy.Allow.Allows(h)
}

// ErrEndpointHost is wrapped by the error of an endpoint whose expanded host
// is not allowed: a connection's field tried to send a request elsewhere.
var ErrEndpointHost = errors.New("integrations: endpoint host not allowed")

// expand returns the endpoint's URL for connection c, with its host checked:
// equal to the static host, or allowed by AllowedHosts for a placeholder
// host, on the scheme's default port or one of AllowedPorts.
func (in *Integration) expandEndpoint(ep *endpoint, c *tokens.Connection) (*url.URL, error) {
	s, err := ep.tpl.expandURL(c)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("integrations: %s: the expanded URL is not an absolute http(s) URL", ep.path)
	}
	h := strings.ToLower(u.Hostname())
	if ep.staticHost != "" {
		if h != ep.staticHost {
			return nil, fmt.Errorf("%w: %s: host %q is not %q", ErrEndpointHost, ep.path, h, ep.staticHost)
		}
		return u, nil
	}
	if err := hosts.CheckHost(h); err != nil && !allowedAddress(h, in.addrs) {
		return nil, fmt.Errorf("%w: %s: %v", ErrEndpointHost, ep.path, err)
	}
	if !in.policy.Allow.Allows(h) {
		return nil, fmt.Errorf("%w: %s: host %q is not covered by allowedHosts", ErrEndpointHost, ep.path, h)
	}
	if p := u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		def := map[string]int{"https": 443, "http": 80}[u.Scheme]
		if n != def && !slices.Contains(in.cfg.AllowedPorts, n) {
			return nil, fmt.Errorf("%w: %s: port %s is not allowed", ErrEndpointHost, ep.path, p)
		}
	}
	if len(in.cfg.AllowedSchemes) > 0 && !slices.Contains(in.cfg.AllowedSchemes, u.Scheme) ||
		len(in.cfg.AllowedSchemes) == 0 && u.Scheme != "https" && !strings.HasPrefix(ep.tpl.src, u.Scheme+"://") {
		return nil, fmt.Errorf("%w: %s: scheme %q is not allowed", ErrEndpointHost, ep.path, u.Scheme)
	}
	return u, nil
}
