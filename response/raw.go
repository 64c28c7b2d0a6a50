package response

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
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

// rawBufferBytes is the largest raw body of announced length that is read
// whole to be redacted, so that it keeps an exact Content-Length; larger
// bodies, and bodies of unknown length, stream.
const rawBufferBytes = 64 << 10

// redactRawBody passes resp's body through red. A body of announced length
// up to rawBufferBytes is read, redacted and given its new Content-Length
// (an API answer keeps its framing); a longer one of announced length (a
// file) streams with each byte of a secret masked, keeping its length; a body
// of unknown length streams through red, never held whole. The proxy asks
// for identity encoding; a gzip body sent anyway is decoded so that it can be
// redacted (other encodings, which nothing asked for, pass as they are: see
// SECURITY.md).
func redactRawBody(resp *http.Response, red *Redactor) error {
	body := resp.Body
	if ce := resp.Header.Get("Content-Encoding"); ce == "" && resp.ContentLength >= 0 && resp.ContentLength <= rawBufferBytes {
		return redactSmallBody(resp, red)
	}
	switch strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))) {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			body.Close()
			return Wrap(err, http.StatusBadGateway, CodeUpstreamUnreachable, "The integration sent a malformed compressed body.")
		}
		body = gzipBody{zr, body}
		resp.Header.Del("Content-Encoding")
		resp.ContentLength = -1 // the decoded length is not known
	}
	if resp.Header.Get("Content-Encoding") == "" && resp.ContentLength > 0 {
		// A large body of announced length (a file): masked byte for byte,
		// so that it keeps its Content-Length and streams as sent.
		resp.Body = red.MaskReadCloser(body)
		return nil
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

// redactSmallBody reads a body of announced length whole (up to EOF, not
// trusting the announcement: a RoundTripper may build a response by hand),
// redacts it and sets its exact length. A body longer than rawBufferBytes
// after all streams, the part read first included.
func redactSmallBody(resp *http.Response, red *Redactor) error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Grow(int(resp.ContentLength))
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, rawBufferBytes+1))
	if err != nil {
		resp.Body.Close()
		putBuf(buf)
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return Wrap(err, http.StatusGatewayTimeout, CodeUpstreamTimeout, "The integration did not finish its answer in time.")
		}
		return Wrap(err, http.StatusBadGateway, CodeUpstreamUnreachable, "Reading the integration's answer failed.")
	}
	if buf.Len() > rawBufferBytes {
		// Longer than announced: stream the rest behind what was read.
		head := bytes.Clone(buf.Bytes())
		putBuf(buf)
		resp.Body = red.ReadCloser(readCloser{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body})
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		return nil
	}
	resp.Body.Close()
	out := red.Bytes(buf.Bytes())
	pb := &pooledBody{buf: buf, cl: [1]string{strconv.Itoa(len(out))}}
	pb.Reset(out)
	resp.Body = pb
	resp.ContentLength = int64(len(out))
	resp.Header["Content-Length"] = pb.cl[:]
	return nil
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	c io.Closer
}

func (rc readCloser) Close() error { return rc.c.Close() }
