package response

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// DefaultMaxJSONBytes is the JSON-mode cap on an upstream body when
// Config.MaxJSONBytes is zero.
const DefaultMaxJSONBytes = 8 << 20

// Config configures a Responder.
type Config struct {
	// MaxJSONBytes caps the upstream body read in JSON mode; a larger body
	// answers 502 RESPONSE_TOO_LARGE (raw mode has no cap, it streams).
	// Zero means DefaultMaxJSONBytes; negative is an error.
	MaxJSONBytes int64
}

// Responder turns upstream answers into what the caller receives. Its Modify
// method is meant for httputil.ReverseProxy.ModifyResponse. It is safe for
// concurrent use.
type Responder struct {
	max     int64
	rawDrop map[string]bool // RawDroppedHeaders in canonical form, when the Responder was made
}

// NewResponder validates cfg and returns a Responder.
func NewResponder(cfg Config) (*Responder, error) {
	if cfg.MaxJSONBytes < 0 {
		return nil, errors.New("response: MaxJSONBytes must not be negative")
	}
	if cfg.MaxJSONBytes == 0 {
		cfg.MaxJSONBytes = DefaultMaxJSONBytes
	}
	drop := make(map[string]bool, len(RawDroppedHeaders))
	for _, k := range RawDroppedHeaders {
		drop[http.CanonicalHeaderKey(k)] = true
	}
	return &Responder{max: cfg.MaxJSONBytes, rawDrop: drop}, nil
}

// RawDroppedHeaders are removed from upstream answers in raw mode because they
// would act on the host app's own origin rather than the provider's: cookies,
// CORS grants, transport and reporting policies, credential prompts. A
// Responder reads the list when it is made.
var RawDroppedHeaders = []string{
	"Set-Cookie", "Set-Cookie2",
	"Strict-Transport-Security", "Alt-Svc", "Clear-Site-Data",
	"Public-Key-Pins", "Public-Key-Pins-Report-Only", "Expect-CT",
	"NEL", "Report-To", "Reporting-Endpoints",
	"Service-Worker-Allowed", "Refresh",
	"WWW-Authenticate", "Proxy-Authenticate",
	"Content-Security-Policy", "Content-Security-Policy-Report-Only",
}

// JSONKeptHeaders are the upstream headers kept in JSON mode, where the proxy
// writes its own body: the provider's rate-limit and request-id signals, and
// its Date (the envelope is made the moment the answer arrives, and the
// server does not format another). Header names starting with
// "X-Ratelimit-" or "Ratelimit-" are kept too.
var JSONKeptHeaders = []string{"Retry-After", "X-Request-Id", "Request-Id", "Ratelimit", "Ratelimit-Policy", "Date"}

// Modify rewrites resp according to the mode in resp.Request's context (see
// SetMode; ModeJSON when none). An error it returns is an *Error for the
// ReverseProxy's ErrorHandler. It is ModifyRedacted without secrets.
func (rs *Responder) Modify(resp *http.Response) error { return rs.ModifyRedacted(resp, nil) }

// ModifyRedacted is Modify for an answer to a request that carried secrets:
// every occurrence of them in what the caller receives (the headers kept,
// such as Location; the JSON envelope or error body built from the upstream
// body; a raw body, streamed) is replaced by red's Marker, so a provider
// that echoes the request cannot hand the caller the stored credential. A
// redacted raw body loses its Content-Length (it streams chunked) and a
// gzip-encoded one is decoded first; red may be nil (nothing to redact).
func (rs *Responder) ModifyRedacted(resp *http.Response, red *Redactor) error {
	mode := ModeJSON
	if resp.Request != nil {
		if m, ok := ModeFromContext(resp.Request.Context()); ok {
			mode = m
		}
	}
	// One pass over the answer's few headers. The provider cannot speak for
	// the proxy: its own X-Onbehalf-* headers go; in raw mode, so do the
	// headers that would act on the host app's origin. A transport gives
	// canonical names; a RoundTripper that does not must not slip a header
	// past the filter that way.
	for k := range resp.Header {
		ck := http.CanonicalHeaderKey(k)
		if strings.HasPrefix(ck, "X-Onbehalf-") ||
			(mode == ModeRaw && (rs.rawDrop[ck] || strings.HasPrefix(ck, "Access-Control-"))) {
			delete(resp.Header, k)
		}
	}
	// Before the shared values below are added: Header writes in place.
	red.Header(resp.Header)
	if mode == ModeRaw {
		if !red.empty() && bodyAllowed(resp) {
			if err := redactRawBody(resp, red); err != nil {
				return err
			}
		}
		rawHeaders(resp.Header)
		return nil
	}
	return rs.envelope(resp, red)
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// pooledBody is a response body over a pooled buffer, returned on Close. It
// is one allocation per response: the reader and the Content-Length value
// live in it.
type pooledBody struct {
	bytes.Reader
	buf *bytes.Buffer
	cl  [1]string // the Content-Length header value
}

func (b *pooledBody) Close() error {
	if b.buf != nil && b.buf.Cap() <= 1<<20 {
		b.buf.Reset()
		bufPool.Put(b.buf)
	}
	b.buf = nil
	return nil
}

func (rs *Responder) envelope(resp *http.Response, red *Redactor) error {
	body, err := rs.read(resp)
	if err != nil {
		return err
	}
	// The body as the provider sent it, secrets of the request replaced: the
	// output, and the message and body an error's meta quotes, come from it.
	src := red.Bytes(bytes.TrimSpace(body.Bytes()))
	ctype := mediaType(resp.Header.Get("Content-Type"))
	out := bufPool.Get().(*bytes.Buffer)
	status := resp.StatusCode
	if status >= 200 && status < 300 {
		switch {
		case len(src) == 0:
			// Empty stays empty: the SDK returns undefined.
		case isJSONType(ctype) && json.Valid(src):
			out.WriteString(`{"output":`)
			out.Write(src)
			out.WriteByte('}')
		case isTextType(ctype) && utf8.Valid(src):
			out.WriteString(`{"output":`)
			writeJSONString(out, src)
			out.WriteByte('}')
		default:
			putBuf(body)
			putBuf(out)
			return New(http.StatusNotAcceptable, CodeUseRaw,
				"The integration answered with a non-JSON body; send the "+RawHeader+" header to receive it raw.")
		}
	} else {
		status = integrationError(out, resp, src, ctype)
	}
	putBuf(body)
	keep := keptHeaders(resp.Header)
	pb := &pooledBody{buf: out, cl: [1]string{strconv.Itoa(out.Len())}}
	pb.Reset(out.Bytes())
	resp.Body = pb
	resp.ContentLength = int64(out.Len())
	resp.StatusCode = status
	resp.Status = ""
	resp.Header = keep
	resp.TransferEncoding = nil
	resp.Trailer = nil
	// The values are shared, never written to: ReverseProxy copies them into
	// the ResponseWriter's header.
	if out.Len() > 0 {
		keep["Content-Type"] = jsonContentType
	}
	keep["Content-Length"] = pb.cl[:]
	keep["X-Content-Type-Options"] = nosniff
	return nil
}

var (
	jsonContentType = []string{"application/json"} // RFC 8259 defines no charset parameter: JSON is UTF-8
	nosniff         = []string{"nosniff"}
)

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		b.Reset()
		bufPool.Put(b)
	}
}

// read reads the upstream body up to the cap into a pooled buffer, decoding
// gzip when the provider sent it anyway.
func (rs *Responder) read(resp *http.Response) (*bytes.Buffer, error) {
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	switch strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))) {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, Wrap(err, http.StatusBadGateway, CodeUpstreamUnreachable, "The integration sent a malformed compressed body.")
		}
		defer zr.Close()
		r = zr
	default:
		return nil, New(http.StatusNotAcceptable, CodeUseRaw,
			"The integration answered with an encoded body; send the "+RawHeader+" header to receive it raw.")
	}
	buf := bufPool.Get().(*bytes.Buffer)
	if resp.ContentLength > 0 && resp.ContentLength <= rs.max {
		buf.Grow(int(resp.ContentLength))
	}
	lr := limitedReaders.Get().(*io.LimitedReader)
	lr.R, lr.N = r, rs.max+1
	n, err := buf.ReadFrom(lr)
	lr.R = nil
	limitedReaders.Put(lr)
	if err != nil {
		putBuf(buf)
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) ||
			(resp.Request != nil && errors.Is(resp.Request.Context().Err(), context.DeadlineExceeded)) {
			return nil, Wrap(err, http.StatusGatewayTimeout, CodeUpstreamTimeout, "The integration did not finish its answer in time.")
		}
		return nil, Wrap(err, http.StatusBadGateway, CodeUpstreamUnreachable, "Reading the integration's answer failed.")
	}
	if n > rs.max {
		putBuf(buf)
		return nil, New(http.StatusBadGateway, CodeResponseTooLarge,
			fmt.Sprintf("The integration's answer is larger than %d bytes; send the %s header to stream it raw.", rs.max, RawHeader))
	}
	return buf, nil
}

var limitedReaders = sync.Pool{New: func() any { return new(io.LimitedReader) }}

// integrationError writes the error body for a non-2xx upstream answer and
// returns the status to answer with: the upstream's, or 502 for a 1xx/3xx.
func integrationError(out *bytes.Buffer, resp *http.Response, src []byte, ctype string) int {
	status := resp.StatusCode
	meta := map[string]any{"isIntegrationError": true, "status": status}
	var upstream map[string]any
	trimmed := bytes.TrimSpace(src)
	switch {
	case len(trimmed) == 0:
	case json.Valid(trimmed):
		meta["body"] = json.RawMessage(trimmed)
		_ = json.Unmarshal(trimmed, &upstream)
	case utf8.Valid(trimmed) && (isTextType(ctype) || ctype == ""):
		meta["body"] = string(trimmed)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		meta["retryAfter"] = ra
	}
	msg := upstreamMessage(upstream)
	if msg == "" {
		msg = fmt.Sprintf("The integration answered with status %d.", status)
	}
	if status < 400 || status > 599 {
		status = http.StatusBadGateway
	}
	data, err := marshal(Body{Message: msg, Code: string(CodeIntegrationError), Status: status, Meta: meta})
	if err != nil {
		data = []byte(fmt.Sprintf(`{"message":"The integration answered with status %d.","code":"INTEGRATION_ERROR","status":%d,"meta":{"isIntegrationError":true}}`, resp.StatusCode, status))
	}
	out.Write(data)
	resp.Header.Set(ErrorSourceHeader, "integration")
	resp.Header.Set(ErrorCodeHeader, string(CodeIntegrationError))
	return status
}

// upstreamMessage picks the provider's own human message, if it gave one.
func upstreamMessage(m map[string]any) string {
	for _, k := range []string{"message", "error_description", "error"} {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
		if inner, ok := m[k].(map[string]any); ok {
			if s, ok := inner["message"].(string); ok && s != "" {
				return s
			}
		}
	}
	return ""
}

// keptHeaders reduces h, in place, to the headers JSON mode keeps, and
// returns it.
func keptHeaders(h http.Header) http.Header {
	for k := range h {
		if k == ErrorSourceHeader || k == ErrorCodeHeader || strings.HasPrefix(k, "X-Ratelimit-") || strings.HasPrefix(k, "Ratelimit-") {
			continue
		}
		kept := false
		for _, name := range JSONKeptHeaders {
			// CanonicalHeaderKey keeps the length: compare that first.
			if len(k) == len(name) && k == http.CanonicalHeaderKey(name) {
				kept = true
				break
			}
		}
		if !kept {
			delete(h, k)
		}
	}
	return h
}

// mediaType returns the lower-cased type/subtype of a Content-Type value:
// what mime.ParseMediaType returns for it when the value parses, and what
// its fallback returned when it does not, without ParseMediaType's
// allocations (its parameters are never used here).
func mediaType(v string) string {
	base, _, _ := strings.Cut(v, ";")
	return strings.TrimSpace(strings.ToLower(base))
}

// isJSONType reports whether a media type may hold JSON: JSON types, and a
// missing type (many APIs omit it).
func isJSONType(mt string) bool {
	return mt == "" || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "text/json"
}

// isTextType reports whether a media type is text the SDK can take as a string.
func isTextType(mt string) bool {
	return mt == "" || strings.HasPrefix(mt, "text/") || mt == "application/json" ||
		strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml") ||
		mt == "application/xml" || mt == "application/javascript" ||
		mt == "application/x-www-form-urlencoded" || mt == "application/x-ndjson"
}

func writeJSONString(out *bytes.Buffer, s []byte) {
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(string(s))
	// Encode adds a newline; drop it.
	out.Truncate(out.Len() - 1)
}
