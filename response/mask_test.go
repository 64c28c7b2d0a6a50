package response

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// maskRef masks, byte for byte, every occurrence of every form of the
// secrets in s: the reference MaskReadCloser must match.
func maskRef(r *Redactor, s string) string {
	b := []byte(s)
	for _, p := range r.strs {
		for i := 0; i+len(p) <= len(s); i++ {
			if s[i:i+len(p)] == p {
				for j := i; j < i+len(p); j++ {
					b[j] = MaskByte
				}
			}
		}
	}
	return string(b)
}

// TestMaskReadCloser: a masked body keeps its length and hides every byte
// of every secret, however the reads split it, overlaps included.
func TestMaskReadCloser(t *testing.T) {
	red := NewRedactor("abcd", "cdef", "tok+en/1")
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := "abcdef tok+en/1%2B"
	for n := 0; n < 300; n++ {
		var sb strings.Builder
		for i := rng.IntN(200); i > 0; i-- {
			sb.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		if n%3 == 0 {
			sb.WriteString(strings.Repeat("x", chunk)) // across a chunk boundary
			sb.WriteString("abcdef")
		}
		in := sb.String()
		want := maskRef(red, in)
		for _, wrap := range []func(io.Reader) io.Reader{
			func(r io.Reader) io.Reader { return r }, iotest.OneByteReader, iotest.HalfReader,
		} {
			got, err := io.ReadAll(red.MaskReadCloser(io.NopCloser(wrap(strings.NewReader(in)))))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(in) || string(got) != want {
				t.Fatalf("input %q:\n got %q\nwant %q", in, got, want)
			}
		}
	}
	if rc := io.NopCloser(bytes.NewReader(nil)); (*Redactor)(nil).MaskReadCloser(rc) != rc {
		t.Error("a nil Redactor must return the body itself")
	}
}
