package response

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// Marker replaces every secret a Redactor finds.
const Marker = "[redacted]"

// Redactor replaces the secrets applied to one request, and the forms they
// were sent in, with Marker: in strings, byte slices, headers and streamed
// bodies. Build one per request with NewRedactor. A Redactor is immutable and
// safe for concurrent use; a nil *Redactor redacts nothing.
//
// Every byte covered by an occurrence of a secret is replaced, including
// occurrences that overlap (secrets "abcd" and "cdef" in "abcdef"): a run of
// overlapping occurrences becomes one Marker, so no part of either survives.
// Occurrences that only touch ("abcdabcd") give one Marker each. Where no two
// occurrences overlap, the result is that of strings.NewReplacer with each
// secret mapped to Marker.
type Redactor struct {
	pats   [][]byte // longest first; no duplicates, none empty; views of strs, read-only
	strs   []string // pats as strings, for String
	maxLen int      // the longest pattern's length

	// Room for the usual few secrets (a token, its refresh token, their
	// escaped forms), so that a Redactor is one allocation.
	strsBuf [8]string
	patsBuf [8][]byte
}

// NewRedactor returns a Redactor for secrets: the exact values applied to
// one request (access tokens, API keys, passwords, and what was derived from
// them, such as the base64 of "user:pass" for HTTP basic). Each secret is
// redacted as given and, where they differ, as url.QueryEscape and
// url.PathEscape encode it.
//
// Empty secrets are ignored. Every other secret is redacted whatever its
// length: a six-character API key must not leak, so there is no minimum. The
// price is that a very short secret also redacts innocent text holding the
// same bytes (a secret "1234" redacts those digits in any number); a leak
// cannot be taken back, a redacted word can. When no secret is left the
// Redactor redacts nothing, and Reader and ReadCloser return their argument.
//
// NewRedactor takes no config and cannot fail: any list of strings is valid.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	r.strs = r.strsBuf[:0]
	for _, s := range secrets {
		for _, form := range [...]string{s, url.QueryEscape(s), url.PathEscape(s)} {
			// Few secrets: a linear look for duplicates beats a map.
			if form == "" || slices.Contains(r.strs, form) {
				continue
			}
			r.strs = append(r.strs, form)
		}
	}
	// Longest first: the quick Contains checks meet the likeliest (raw)
	// forms early enough either way, and the order is deterministic.
	slices.SortStableFunc(r.strs, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	r.pats = r.patsBuf[:0]
	for _, s := range r.strs {
		// A view of the string's bytes, never written to: no copy.
		r.pats = append(r.pats, unsafe.Slice(unsafe.StringData(s), len(s)))
		r.maxLen = max(r.maxLen, len(s))
	}
	return r
}

// empty reports whether r redacts nothing.
func (r *Redactor) empty() bool { return r == nil || len(r.pats) == 0 }

// String returns s with every secret replaced; s itself when it holds none,
// without allocating.
func (r *Redactor) String(s string) string {
	if r.empty() || !r.containsString(s) {
		return s
	}
	return string(r.redactAll(nil, []byte(s)))
}

// Bytes returns b with every secret replaced: b itself when it holds none,
// else a new slice. b is not modified.
func (r *Redactor) Bytes(b []byte) []byte {
	if r.empty() || !r.containsBytes(b) {
		return b
	}
	return r.redactAll(make([]byte, 0, len(b)+len(Marker)), b)
}

// Header redacts every value of h in place; names are left as they are.
func (r *Redactor) Header(h http.Header) {
	if r.empty() {
		return
	}
	for _, vs := range h {
		for i, v := range vs {
			if r.containsString(v) {
				vs[i] = r.String(v)
			}
		}
	}
}

func (r *Redactor) containsString(s string) bool {
	for _, p := range r.strs {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func (r *Redactor) containsBytes(b []byte) bool {
	for _, p := range r.pats {
		if bytes.Contains(b, p) {
			return true
		}
	}
	return false
}

// redactAll appends b, redacted whole, to dst.
func (r *Redactor) redactAll(dst, b []byte) []byte {
	var stack [8]span
	spans := r.find(stack[:0], b, 0, len(b))
	dst, _ = emit(dst, b, 0, len(b), spans, 0)
	return dst
}

// span is one occurrence of a secret: w[start:end].
type span struct{ start, end int }

// find appends to spans every occurrence of a secret in w that starts in
// [from, to), sorted by start. Occurrences are looked for within w only:
// the caller makes sure w holds to+maxLen-1 bytes, or all there is.
func (r *Redactor) find(spans []span, w []byte, from, to int) []span {
	n0, found := len(spans), 0
	for _, p := range r.pats {
		end := min(to+len(p)-1, len(w))
		n := len(spans)
		for i := from; i < to; {
			j := bytes.Index(w[i:end], p)
			if j < 0 {
				break
			}
			// The next try starts one byte on: occurrences of one secret may
			// overlap ("aa" twice in "aaa").
			spans = append(spans, span{i + j, i + j + len(p)})
			i += j + 1
		}
		if len(spans) > n {
			found++
		}
	}
	if found > 1 { // each secret's occurrences are in order already
		slices.SortFunc(spans[n0:], func(a, b span) int { return cmp.Compare(a.start, b.start) })
	}
	return spans
}

// emit appends w[from:to] to dst with the spans (sorted, starting in
// [from, to)) replaced. coverEnd is where the run of overlapping occurrences
// that began before from ends (at most from when there is none); emit
// returns the same for the next call, which may lie past to.
func emit(dst, w []byte, from, to int, spans []span, coverEnd int) ([]byte, int) {
	i := from
	for _, sp := range spans {
		if sp.start < coverEnd { // overlaps the current run: extend it
			coverEnd = max(coverEnd, sp.end)
			continue
		}
		i = max(i, coverEnd)
		dst = append(dst, w[i:sp.start]...)
		dst = append(dst, Marker...)
		i, coverEnd = sp.start, sp.end
	}
	if i = max(i, coverEnd); i < to {
		dst = append(dst, w[i:to]...)
	}
	return dst, coverEnd
}

// Reader returns a reader of src's bytes with every secret replaced. It
// streams: it holds at most one read of src plus the longest secret's
// length less one byte (a secret split across reads is still found), never
// the whole body. On an error other than io.EOF from src, the bytes held back
// for that reason are dropped, not returned: a body cut there cannot be told
// from one that goes on with a secret. The reader is not safe for concurrent
// use, as no reader is.
func (r *Redactor) Reader(src io.Reader) io.Reader {
	if r.empty() {
		return src
	}
	return &redactReader{r: r, src: src}
}

// MaskByte replaces each byte of a secret in a masked body (see
// MaskReadCloser).
const MaskByte = '*'

// MaskReadCloser is ReadCloser for a body whose length must not change (one
// sent with Content-Length and streamed as is): every byte of every secret
// is replaced with MaskByte instead of the run becoming Marker. The masked
// body has exactly rc's length; it shows where a secret was and how long it
// was, never its bytes.
func (r *Redactor) MaskReadCloser(rc io.ReadCloser) io.ReadCloser {
	if r.empty() {
		return rc
	}
	return &redactReadCloser{redactReader{r: r, src: rc, mask: true}, rc}
}

// maskEmit appends w[from:to] to dst with every byte that an occurrence
// covers (the spans, sorted, starting in [from, to), and the run carried in
// up to coverEnd) replaced by MaskByte; it returns how far the covered run
// reaches, for the next call.
func maskEmit(dst, w []byte, from, to int, spans []span, coverEnd int) ([]byte, int) {
	base := len(dst) - from
	dst = append(dst, w[from:to]...)
	cover := func(s, e int) {
		for i := max(s, from); i < min(e, to); i++ {
			dst[base+i] = MaskByte
		}
	}
	cover(from, coverEnd)
	for _, sp := range spans {
		cover(sp.start, sp.end)
		coverEnd = max(coverEnd, sp.end)
	}
	return dst, coverEnd
}

// ReadCloser is Reader for a body: Close closes rc.
func (r *Redactor) ReadCloser(rc io.ReadCloser) io.ReadCloser {
	if r.empty() {
		return rc
	}
	return &redactReadCloser{redactReader{r: r, src: rc}, rc}
}

type redactReadCloser struct {
	redactReader
	c io.Closer
}

func (rc *redactReadCloser) Close() error {
	rc.release()
	return rc.c.Close()
}

// chunk is how much a redactReader reads from its source at a time.
const chunk = 32 << 10

// buffers holds the window and output buffers of finished readers.
var buffers = sync.Pool{New: func() any { return new(redactBuffers) }}

type redactBuffers struct {
	win, out []byte
	spans    []span
}

type redactReader struct {
	r    *Redactor
	src  io.Reader
	b    *redactBuffers // nil until the first Read and after the end
	mask bool           // replace each byte of a secret with MaskByte, keeping the length

	n        int   // bytes of b.win read and not yet emitted
	coverEnd int   // in b.win: end of the run of occurrences being skipped
	op       int   // b.out[op:] is yet to be returned
	err      error // src's error, returned once b.out is drained
}

func (z *redactReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for z.b == nil || z.op == len(z.b.out) {
		if z.err != nil {
			z.release()
			return 0, z.err
		}
		z.fill()
	}
	n := copy(p, z.b.out[z.op:])
	z.op += n
	return n, nil
}

// fill reads from src once and puts what is final of the window into b.out.
func (z *redactReader) fill() {
	if z.b == nil {
		z.b = buffers.Get().(*redactBuffers)
		if need := chunk + z.r.maxLen - 1; cap(z.b.win) < need {
			z.b.win = make([]byte, need)
		}
		z.b.win = z.b.win[:cap(z.b.win)]
		z.n, z.coverEnd = 0, 0
	}
	b := z.b
	b.out, z.op = b.out[:0], 0
	var m int
	for tries := 0; m == 0 && z.err == nil; tries++ {
		if tries == 100 {
			z.err = io.ErrNoProgress
			break
		}
		m, z.err = z.src.Read(b.win[z.n:])
	}
	z.n += m
	// Starts in [0, to) can be decided; after another error than EOF, the
	// bytes held back stay unread (see Reader).
	to := z.n - (z.r.maxLen - 1)
	if z.err == io.EOF {
		to = z.n
	}
	if to <= 0 {
		return
	}
	b.spans = z.r.find(b.spans[:0], b.win[:z.n], 0, to)
	if z.mask {
		b.out, z.coverEnd = maskEmit(b.out, b.win[:z.n], 0, to, b.spans, z.coverEnd)
	} else {
		b.out, z.coverEnd = emit(b.out, b.win[:z.n], 0, to, b.spans, z.coverEnd)
	}
	z.n = copy(b.win, b.win[to:z.n])
	z.coverEnd = max(z.coverEnd-to, 0)
}

// release returns the buffers to the pool once everything is returned or
// the body is closed.
func (z *redactReader) release() {
	if z.b != nil {
		if cap(z.b.out) > 4*chunk { // an expansion by short secrets: do not keep it
			z.b.out = nil
		}
		buffers.Put(z.b)
		z.b = nil
	}
	if z.err == nil {
		z.err = errClosed
	}
}

// errClosed is returned by Read after Close.
var errClosed = errors.New("response: read after Close of a redacting body")
