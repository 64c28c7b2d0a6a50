package upstream

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
)

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
