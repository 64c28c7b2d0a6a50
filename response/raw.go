package response

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
)

// rawHeaders adds raw mode's own headers.
func rawHeaders(h http.Header) {
	// Whatever the provider sent, the host app's origin must never render it
	// as an active document.
	// Shared values, never written to (see envelope).
	h["Content-Security-Policy"] = sandboxCSP
	h["X-Content-Type-Options"] = nosniff
}

var sandboxCSP = []string{"sandbox; default-src 'none'"}

// bodyAllowed reports whether resp may carry a body (RFC 9110 section 6.4.1).
func bodyAllowed(resp *http.Response) bool {
	s := resp.StatusCode
	head := resp.Request != nil && resp.Request.Method == http.MethodHead
	return !head && s >= 200 && s != http.StatusNoContent && s != http.StatusNotModified
}

// redactRawBody streams resp's body through red. Its length may change, so
// Content-Length goes. The proxy asks for identity encoding; a gzip body
// sent anyway is decoded so that it can be redacted (other encodings, which
// nothing asked for, pass as they are: see SECURITY.md).
func redactRawBody(resp *http.Response, red *Redactor) error {
	body := resp.Body
	switch strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))) {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			body.Close()
			return Wrap(err, http.StatusBadGateway, CodeUpstreamUnreachable, "The integration sent a malformed compressed body.")
		}
		body = gzipBody{zr, body}
		resp.Header.Del("Content-Encoding")
	}
	resp.Body = red.ReadCloser(body)
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return nil
}

// gzipBody reads the decoded body and closes both readers.
type gzipBody struct {
	*gzip.Reader
	src io.Closer
}

func (b gzipBody) Close() error {
	b.Reader.Close()
	return b.src.Close()
}
