package upstream

import (
	"io"
	"net/http"
	"net/http/httputil"
	"strings"

	"github.com/onbehalf/onbehalf/integrations"
)

// noUserAgent is the User-Agent value that stops the transport from sending
// Go's default. Shared by every request: never written to.
var noUserAgent = []string{""}

// strippedPrefixes are request header families never forwarded.
var strippedPrefixes = []string{"X-Paragon-", "X-Forwarded-", "X-Onbehalf-", "Sec-Websocket-"}

// stripped reports whether a request header (canonical name) is never
// forwarded: the caller's own credentials and facts about the host app that
// the provider has no business seeing, the families in strippedPrefixes,
// and the headers of a protocol upgrade or declared trailers (a tunnel would
// bypass the response modes; ReverseProxy adds back the Connection and
// Upgrade headers of an upgrade request after its hop-by-hop stripping, and
// keeps the inbound trailers). Hop-by-hop headers are removed by
// ReverseProxy before Rewrite, so nothing a client lists in Connection can
// remove what is added later.
func stripped(k string) bool {
	switch k {
	case "Authorization", "Cookie", "Proxy-Authorization", "Forwarded", "X-Real-Ip", "Origin", "Referer",
		"Connection", "Upgrade", "Trailer",
		// Hop-by-hop: ReverseProxy removes these by canonical name before
		// Rewrite; a hand-built request may still hold them under another.
		"Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Trailers":
		return true
	}
	for _, p := range strippedPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func (f *Forwarder) rewrite(pr *httputil.ProxyRequest) {
	ctx := pr.In.Context()
	st := StateFrom(ctx)
	target, in := st.Target, st.Integration
	out := pr.Out
	*out.URL = *target // out.URL is the proxy's own clone of the inbound URL
	out.Host = ""
	h := out.Header
	// Ask for the body unencoded (no Accept-Encoding): the JSON mode reads
	// it, and both modes redact the request's secrets from it.
	for k, v := range h {
		// A server gives canonical names; a request built by hand may not,
		// and must not slip a header past the filter that way.
		ck := http.CanonicalHeaderKey(k)
		switch {
		case stripped(ck) || ck == "Accept-Encoding":
			delete(h, k)
		case ck != k:
			// Under its canonical name, so that the transport's own rules
			// for Host, Content-Length and User-Agent apply to it rather
			// than a second line of it going out.
			delete(h, k)
			h[ck] = append(h[ck], v...)
		}
	}
	out.Trailer = nil
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = noUserAgent // no Go default
	}
	f.prepareBody(out, in)
	// The credential goes onto the outbound copy, after every header the
	// client sent was filtered, so nothing it sends can remove or replace it.
	if in.FollowRedirects() > 0 {
		st.bareHeader = out.Header.Clone()
	}
	if err := in.Apply(out.Header, out.URL, st.Connection); err != nil {
		// Rewrite cannot fail: the transport returns the error before
		// anything is sent.
		st.applyErr = err
		return
	}
	st.secrets = in.Secrets(st.Connection)
}

// prepareBody resolves "Content-Type: auto" and keeps small bodies so the
// request can be replayed after a refresh-on-401.
func (f *Forwarder) prepareBody(out *http.Request, in *integrations.Integration) {
	auto := resolveAutoType(out.Header)
	hasBody := out.Body != nil && out.Body != http.NoBody
	if !hasBody {
		if auto {
			out.Header.Del("Content-Type")
		}
		return
	}
	retries := false
	if s := StateFrom(out.Context()); s != nil {
		retries = s.attempts > 1
	}
	keep := (in.Grant() != nil || retries || in.FollowRedirects() > 0) && f.cfg.ReplayBytes > 0 && out.ContentLength > 0 && out.ContentLength <= f.cfg.ReplayBytes
	if !auto && !keep {
		return
	}
	limit := f.cfg.ReplayBytes
	if auto && limit < sniffBytes {
		limit = sniffBytes
	}
	buf, complete, err := readUpTo(out.Body, limit)
	if err != nil {
		out.Body = io.NopCloser(errReader{err})
		out.GetBody = nil
		return
	}
	if auto {
		ct := in.DefaultContentType()
		if complete && jsonValid(buf) {
			ct = "application/json"
		} else if ct == "" {
			ct = "application/octet-stream"
		}
		out.Header.Set("Content-Type", ct)
	}
	if complete {
		setBufferedBody(out, buf)
		return
	}
	out.Body = multiReadCloser(buf, out.Body)
	out.GetBody = nil
}

// resolveAutoType removes the SDK's "auto" Content-Type (also when a browser
// joined it with another value) and reports whether the type must be sniffed.
func resolveAutoType(h http.Header) bool {
	vals := h.Values("Content-Type")
	if len(vals) == 0 {
		return false
	}
	var kept []string
	sawAuto := false
	for _, v := range vals {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if strings.EqualFold(part, "auto") {
				sawAuto = true
				continue
			}
			if part != "" {
				kept = append(kept, part)
			}
		}
	}
	if !sawAuto {
		return false
	}
	h.Del("Content-Type")
	if len(kept) > 0 {
		h.Set("Content-Type", kept[0])
		return false
	}
	return true
}
