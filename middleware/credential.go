package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/tokens"
)

// credentialTransport is the first RoundTripper of the upstream chain: it
// sends the outbound request (which carries the credential rewrite applied)
// through the integration's transport, and on a 401 to an OAuth2 token
// refreshes once (through the Refresher's coordination) and replays a clone
// with the fresh credential once when the body can be replayed.
type credentialTransport struct {
	f *Forwarder
}

func (t *credentialTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.roundTrip(req)
	if err != nil {
		return nil, err
	}
	if in, ok := IntegrationFromContext(req.Context()); ok && in.cfg.FollowRedirects > 0 {
		return t.follow(req, resp, in)
	}
	return resp, nil
}

func (t *credentialTransport) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if s := stateFrom(ctx); s != nil && s.applyErr != nil {
		closeBody(req)
		return nil, s.applyErr
	}
	in, _ := IntegrationFromContext(ctx)
	c, _ := ConnectionFromContext(ctx)
	next := t.f.chain
	start := time.Now()
	resp, err := next.RoundTrip(req)
	if s := stateFrom(ctx); s != nil {
		s.upstream = time.Since(start)
	}
	if err != nil {
		return nil, errors.Join(errUpstream, err)
	}
	rf := t.f.cfg.Refresher
	if resp.StatusCode != http.StatusUnauthorized || rf == nil || in.Grant() == nil || !replayable(req) {
		return resp, nil
	}
	fresh, err := rf.Fresh(ctx, c, in.Grant(), c.Credential.AccessToken)
	if err != nil {
		// Keep the provider's 401: the refresh error says why it stays.
		drain(resp)
		return nil, err
	}
	drain(resp)
	replay := req.Clone(ctx)
	if req.GetBody != nil {
		if replay.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	// replay is a clone (its own header and URL): the fresh credential
	// replaces the rejected one on it.
	if err := in.Apply(replay.Header, replay.URL, fresh); err != nil {
		closeBody(replay)
		return nil, err
	}
	resp, err = next.RoundTrip(replay)
	if err != nil {
		return nil, errors.Join(errUpstream, err)
	}
	return resp, nil
}

func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// drain reads a little of a discarded response so the connection can be
// reused, then closes it.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}

// sniffBytes is how much of a "Content-Type: auto" body is read to decide
// whether it is JSON.
const sniffBytes = 1 << 20

func jsonValid(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && json.Valid(b)
}

// readUpTo reads at most limit bytes; complete reports whether r ended within
// them.
func readUpTo(r io.Reader, limit int64) (buf []byte, complete bool, err error) {
	var b bytes.Buffer
	n, err := b.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, false, err
	}
	if n <= limit {
		return b.Bytes(), true, nil
	}
	return b.Bytes(), false, nil
}

func setBufferedBody(out *http.Request, buf []byte) {
	out.ContentLength = int64(len(buf))
	out.Body = io.NopCloser(bytes.NewReader(buf))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	if len(buf) == 0 {
		out.Body = http.NoBody
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}

func multiReadCloser(head []byte, rest io.ReadCloser) io.ReadCloser {
	return readCloser{io.MultiReader(bytes.NewReader(head), rest), rest}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// copyBuffers is the ReverseProxy's pool of copy buffers.
var copyBuffers = &bufferPool{}

// bufferPool pools 32 KiB buffers behind httputil.BufferPool's slice API
// without an allocation per Put: the *[]byte holders are recycled too.
type bufferPool struct{ bufs, holders sync.Pool }

func (bp *bufferPool) Get() []byte {
	h, ok := bp.bufs.Get().(*[]byte)
	if !ok {
		return make([]byte, 32<<10)
	}
	b := *h
	*h = nil
	bp.holders.Put(h)
	return b
}

func (bp *bufferPool) Put(b []byte) {
	h, ok := bp.holders.Get().(*[]byte)
	if !ok {
		h = new([]byte)
	}
	*h = b
	bp.bufs.Put(h)
}

// follow follows up to the integration's FollowRedirects redirects. Each
// Location is checked as a fully-qualified target (allowlist, scheme, port,
// no IP literal) before anything is sent, and the dial guard checks the
// address as for any request. The credential goes only to the original
// target's origin.
func (t *credentialTransport) follow(req *http.Request, resp *http.Response, in *Integration) (*http.Response, error) {
	ctx := req.Context()
	s := stateFrom(ctx)
	c, _ := ConnectionFromContext(ctx)
	origin := req.URL.Scheme + "://" + req.URL.Host
	for hop := 0; hop < in.cfg.FollowRedirects; hop++ {
		method, keepBody := redirectMethod(resp.StatusCode, req.Method)
		loc := resp.Header.Get("Location")
		if method == "" || loc == "" || s == nil || c == nil {
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
			if a := in.cfg.Auth; a.Type == AuthAPIKey && a.In == "query" {
				q := hopReq.URL.Query()
				q.Del(a.Name)
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
		resp, err = t.f.chain.RoundTrip(hopReq)
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
func redirectTarget(cur *url.URL, loc string, in *Integration, c *tokens.Connection) (*url.URL, error) {
	if i := strings.IndexByte(loc, '#'); i >= 0 {
		loc = loc[:i]
	}
	ref, err := url.Parse(loc)
	if err != nil {
		return nil, errors.Join(hosts.ErrBadURL, errors.New("redirect Location is not a URL"))
	}
	abs := cur.ResolveReference(ref)
	base, err := in.baseURL(c)
	if err != nil {
		return nil, err
	}
	return hosts.Resolve(base, abs.String(), in.Policy())
}
