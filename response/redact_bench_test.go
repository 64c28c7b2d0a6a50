package response

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// jsonBody returns a JSON array of about size bytes; with hits, the first
// secret appears that many times, spread through it.
func jsonBody(size int, secret string, hits int) []byte {
	var b strings.Builder
	b.WriteString("[")
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"Contact %d","email":"c%d@example.com","owner":{"id":"005x%06d","active":true},"tags":["a","b"]}`, i, i, i, i)
	}
	b.WriteString("]")
	s := b.String()
	for h := 1; h <= hits; h++ {
		at := h * len(s) / (hits + 1)
		s = s[:at] + secret + s[at:]
	}
	return []byte(s)
}

// BenchmarkRedact streams a body through a Redactor the way
// httputil.ReverseProxy copies one (Read into a 32 KiB buffer, then Write),
// against the same copy without redaction ("copy").
func BenchmarkRedact(b *testing.B) {
	secrets := []string{"ya29.a0AfB_byC-tok3n-0123456789abcdef", "k3y/with+plus and=equals", "dXNlcjpwYXNzd29yZC12YWx1ZQ=="}
	for _, size := range []struct {
		name string
		n    int
	}{{"json-5KB", 5 << 10}, {"256KiB", 256 << 10}} {
		for _, c := range []struct {
			name    string
			secrets int // 0: no Redactor, a plain copy
			hits    int
		}{{"copy", 0, 0}, {"secrets-1", 1, 0}, {"secrets-3", 3, 0}, {"secrets-3-hits-4", 3, 4}} {
			body := jsonBody(size.n, secrets[0], c.hits)
			r := NewRedactor(secrets[:c.secrets]...)
			b.Run(size.name+"/"+c.name, func(b *testing.B) {
				buf := make([]byte, 32<<10)
				src := &resetReader{}
				dst := struct{ io.Writer }{io.Discard} // no ReaderFrom: the proxy's copy loop
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					src.b = body
					if _, err := io.CopyBuffer(dst, r.ReadCloser(src), buf); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// resetReader is a body without WriterTo, like a response body.
type resetReader struct{ b []byte }

func (r *resetReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func (r *resetReader) Close() error { return nil }
