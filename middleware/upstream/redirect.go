package upstream

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// follow follows up to the integration's FollowRedirects redirects. Each
// Location is checked as a fully-qualified target (allowlist, scheme, port,
// no IP literal) before anything is sent, and the dial guard checks the
// address as for any request. The credential goes only to the original
// target's origin.
func (t *credentialTransport) follow(req *http.Request, resp *http.Response, s *State) (*http.Response, error) {
	ctx := req.Context()
	in, c := s.Integration, s.Connection
	origin := req.URL.Scheme + "://" + req.URL.Host
	for hop := 0; hop < in.FollowRedirects(); hop++ {
		method, keepBody := redirectMethod(resp.StatusCode, req.Method)
		loc := resp.Header.Get("Location")
		if method == "" || loc == "" {
			return resp, nil
		}
		if keepBody && !replayable(req) {
			return resp, nil // a streamed body cannot be sent twice: the caller gets the 3xx
		}
		next, err := redirectTarget(req.URL, loc, in, c)
		if err != nil {
			drain(resp)
			return nil, err
		}
		drain(resp)
		hopReq := req.Clone(ctx)
		hopReq.URL, hopReq.Host, hopReq.Method = next, "", method
		if next.Scheme+"://"+next.Host != origin {
			// Another origin: the request as it was before the credential.
			hopReq.Header = s.bareHeader.Clone()
			if name, ok := in.QueryKeyName(); ok {
				q := hopReq.URL.Query()
				q.Del(name)
				hopReq.URL.RawQuery = q.Encode()
			}
		}
		if !keepBody {
			hopReq.Body, hopReq.GetBody, hopReq.ContentLength = http.NoBody, nil, 0
			hopReq.Header.Del("Content-Type")
		} else if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			hopReq.Body = body
		}
		resp, err = t.next.RoundTrip(hopReq)
		if err != nil {
			return nil, errors.Join(errUpstream, err)
		}
		req = hopReq
	}
	return resp, nil
}

// redirectMethod returns the method of the next hop ("" when status is not
// a redirect to follow) and whether the body goes with it: 307 and 308 keep
// both; 303 becomes GET; 301 and 302 turn a POST into a GET, as browsers do.
func redirectMethod(status int, method string) (string, bool) {
	switch status {
	case http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return method, true
	case http.StatusSeeOther:
		if method == http.MethodHead {
			return method, false
		}
		return http.MethodGet, false
	case http.StatusMovedPermanently, http.StatusFound:
		if method == http.MethodPost {
			return http.MethodGet, false
		}
		return method, true
	}
	return "", false
}

// redirectTarget checks a Location like a fully-qualified target of the
// integration.
func redirectTarget(cur *url.URL, loc string, in *integrations.Integration, c *tokens.Connection) (*url.URL, error) {
	if i := strings.IndexByte(loc, '#'); i >= 0 {
		loc = loc[:i]
	}
	ref, err := url.Parse(loc)
	if err != nil {
		return nil, errors.Join(hosts.ErrBadURL, errors.New("redirect Location is not a URL"))
	}
	abs := cur.ResolveReference(ref)
	base, err := in.Base(c)
	if err != nil {
		return nil, err
	}
	return hosts.Resolve(base, abs.String(), in.Policy())
}
