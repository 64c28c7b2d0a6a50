package response

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// oracle redacts s whole, the slow and obvious way: mark every byte that
// any occurrence of any form of a secret covers, then write one Marker per
// run of overlapping occurrences. It also reports whether two occurrences
// overlapped (where strings.Replacer and the Redactor part ways).
func oracle(secrets []string, s string) (string, bool) {
	var forms []string
	for _, sec := range secrets {
		if sec != "" {
			forms = append(forms, sec, url.QueryEscape(sec), url.PathEscape(sec))
		}
	}
	type occ struct{ start, end int }
	var all []occ
	for i := range len(s) {
		for _, f := range forms {
			if strings.HasPrefix(s[i:], f) {
				all = append(all, occ{i, i + len(f)})
			}
		}
	}
	var b strings.Builder
	overlapped := false
	coverEnd, i := 0, 0
	for _, o := range all { // in order of start
		if o.start < coverEnd {
			overlapped = true
			coverEnd = max(coverEnd, o.end)
			continue
		}
		b.WriteString(s[max(i, coverEnd):o.start])
		b.WriteString(Marker)
		i, coverEnd = o.start, o.end
	}
	if i = max(i, coverEnd); i < len(s) {
		b.WriteString(s[i:])
	}
	return b.String(), overlapped
}

const (
	tok   = "ya29.a0AfB_byC-tok3n"     // an access token
	key   = "k3y/with+plus and=equals" // its escaped forms differ from it
	short = "x7Qz"                     // a short API key: still redacted
)

var basic = base64.StdEncoding.EncodeToString([]byte("user:" + key))

var redactCases = []struct {
	name    string
	secrets []string
	in      string
	want    string
}{
	{"no secret present", []string{tok}, `{"ok":true}`, `{"ok":true}`},
	{"raw", []string{tok}, `{"echo":"Bearer ` + tok + `"}`, `{"echo":"Bearer [redacted]"}`},
	{"at start", []string{tok}, tok + " was used", "[redacted] was used"},
	{"at EOF", []string{tok}, "token=" + tok, "token=[redacted]"},
	{"whole input", []string{tok}, tok, "[redacted]"},
	{"prefix at EOF is kept", []string{tok}, "token=" + tok[:8], "token=" + tok[:8]},
	{"query-escaped", []string{key}, "/cb?key=" + url.QueryEscape(key) + "&x=1", "/cb?key=[redacted]&x=1"},
	{"path-escaped", []string{key}, "/keys/" + url.PathEscape(key) + "/x", "/keys/[redacted]/x"},
	{"basic as passed", []string{"user", key, basic}, "Authorization: Basic " + basic, "Authorization: Basic [redacted]"},
	{"short secret", []string{short}, "id x7Qz and x7Qzx7Qz", "id [redacted] and [redacted][redacted]"},
	{"one-byte secret", []string{"q"}, "qaqq", "[redacted]a[redacted][redacted]"},
	{"two secrets", []string{tok, short}, short + "," + tok, "[redacted],[redacted]"},
	// Overlapping secrets: no byte of either may survive.
	{"overlapping", []string{"abcdefgh", "efghijkl"}, "xxabcdefghijklyy", "xx[redacted]yy"},
	{"overlapping reversed", []string{"efghijkl", "abcdefgh"}, "xxabcdefghijklyy", "xx[redacted]yy"},
	{"one inside another", []string{"secret-value-long", "value"}, "a secret-value-long, a value", "a [redacted], a [redacted]"},
	{"self-overlapping", []string{"aaaa"}, "baaaaaab", "b[redacted]b"},
	{"empty secrets ignored", []string{"", tok, ""}, "x" + tok, "x[redacted]"},
	{"no secrets", nil, "anything " + tok, "anything " + tok},
	{"empty input", []string{tok}, "", ""},
}

func TestRedactorString(t *testing.T) {
	for _, tt := range redactCases {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRedactor(tt.secrets...)
			if got := r.String(tt.in); got != tt.want {
				t.Errorf("String: got %q, want %q", got, tt.want)
			}
			if got := string(r.Bytes([]byte(tt.in))); got != tt.want {
				t.Errorf("Bytes: got %q, want %q", got, tt.want)
			}
			if want, _ := oracle(tt.secrets, tt.in); want != tt.want {
				t.Errorf("the test's oracle: got %q, want %q", want, tt.want)
			}
		})
	}
}

// TestRedactorReader defends against a secret that the body splits across
// reads leaking whole or in part: every table case through readers that
// split it at every possible boundary.
func TestRedactorReader(t *testing.T) {
	for _, tt := range redactCases {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRedactor(tt.secrets...)
			readers := map[string]func() io.Reader{
				"whole":   func() io.Reader { return strings.NewReader(tt.in) },
				"one":     func() io.Reader { return iotest.OneByteReader(strings.NewReader(tt.in)) },
				"half":    func() io.Reader { return iotest.HalfReader(strings.NewReader(tt.in)) },
				"dataerr": func() io.Reader { return iotest.DataErrReader(strings.NewReader(tt.in)) },
			}
			for k := range len(tt.in) + 1 {
				readers["split@"+strconv.Itoa(k)] = func() io.Reader {
					return io.MultiReader(strings.NewReader(tt.in[:k]), strings.NewReader(tt.in[k:]))
				}
			}
			for name, src := range readers {
				got, err := io.ReadAll(r.Reader(src()))
				if err != nil || string(got) != tt.want {
					t.Errorf("%s: got %q, %v; want %q", name, got, err, tt.want)
				}
			}
			// The io.Reader contract, with short reads of the result.
			if err := iotest.TestReader(r.Reader(iotest.HalfReader(strings.NewReader(tt.in))), []byte(tt.want)); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestRedactorReaderLargeBody: secrets at and across the reader's chunk
// boundaries of a body many chunks long, read in reads of odd sizes.
func TestRedactorReaderLargeBody(t *testing.T) {
	secrets := []string{tok, key, basic}
	rng := rand.New(rand.NewPCG(1, 2))
	var body []byte
	for len(body) < 5*chunk {
		filler := make([]byte, rng.IntN(chunk/2))
		for i := range filler {
			filler[i] = "abcdefghij {}\":,"[rng.IntN(16)]
		}
		body = append(body, filler...)
		body = append(body, secrets[rng.IntN(len(secrets))]...)
	}
	for _, at := range []int{chunk - 3, 2*chunk - len(tok) + 1, 3 * chunk} { // straddle or touch a boundary
		body = append(body[:at], append([]byte(tok), body[at:]...)...)
	}
	want, _ := oracle(secrets, string(body))
	r := NewRedactor(secrets...)
	for _, sizes := range []int{1, 7, 4096, chunk, 3 * chunk} {
		src := &chunkReader{b: body, size: sizes}
		got, err := io.ReadAll(r.Reader(src))
		if err != nil || string(got) != want {
			t.Fatalf("reads of %d: %v; output differs from the whole-body redaction (got %d bytes, want %d)", sizes, err, len(got), len(want))
		}
		if bytes.Contains(got, []byte(tok)) {
			t.Fatalf("reads of %d: the token leaked", sizes)
		}
	}
}

// chunkReader returns b in reads of size bytes.
type chunkReader struct {
	b    []byte
	size int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.size)], c.b)
	c.b = c.b[n:]
	return n, nil
}

// TestRedactorReaderError defends against a body cut mid-secret by a
// failing upstream leaking the secret's first bytes: after an error other
// than EOF, the bytes held back are dropped and the error returned.
func TestRedactorReaderError(t *testing.T) {
	boom := errors.New("connection reset")
	r := NewRedactor(tok)
	filler := strings.Repeat("-", 30)
	src := io.MultiReader(strings.NewReader("head "+tok+" tail "+filler+tok[:10]), iotest.ErrReader(boom))
	got, err := io.ReadAll(r.Reader(src))
	if !errors.Is(err, boom) {
		t.Fatalf("got error %v, want %v", err, boom)
	}
	// Held back: the last len(tok)-1 bytes, which end with the cut secret.
	held := len(tok) - 1
	if want := "head [redacted] tail " + filler[:len(filler)-(held-10)]; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestRedactorReadCloser(t *testing.T) {
	r := NewRedactor(tok)
	body := &closeRecorder{Reader: strings.NewReader("a " + tok + " b")}
	rc := r.ReadCloser(body)
	buf := make([]byte, 2)
	if n, err := rc.Read(buf); n != 2 || err != nil || string(buf) != "a " {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
	if err := rc.Close(); err != nil || !body.closed {
		t.Fatalf("Close: %v, closed %v", err, body.closed)
	}
	if n, err := rc.Read(buf); n != 0 || err == nil {
		t.Fatalf("read after Close: %d, %v; want an error", n, err)
	}
	// Without secrets, the body itself.
	if got := NewRedactor("").ReadCloser(body); got != io.ReadCloser(body) {
		t.Fatal("a Redactor without secrets wrapped the body")
	}
	var nilR *Redactor
	if nilR.String(tok) != tok || nilR.Reader(body) != io.Reader(body) {
		t.Fatal("a nil Redactor changed something")
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// TestRedactorHeader defends against a secret echoed in a response header,
// as a provider's Location often does with the query it was sent.
func TestRedactorHeader(t *testing.T) {
	h := http.Header{
		"Location":     {"https://api.example/cb?access_token=" + url.QueryEscape(tok) + "&key=" + url.QueryEscape(key)},
		"Content-Type": {"application/json"},
		"X-Debug":      {"a", "auth=" + basic},
	}
	NewRedactor(tok, key, basic).Header(h)
	want := http.Header{
		"Location":     {"https://api.example/cb?access_token=[redacted]&key=[redacted]"},
		"Content-Type": {"application/json"},
		"X-Debug":      {"a", "auth=[redacted]"},
	}
	for k, vs := range want {
		if strings.Join(h[k], "|") != strings.Join(vs, "|") {
			t.Errorf("%s: got %q, want %q", k, h[k], vs)
		}
	}
}

// TestRedactorAllocs: nothing is allocated when there is nothing to
// redact, nor per Read once a stream is going.
func TestRedactorAllocs(t *testing.T) {
	r := NewRedactor(tok, key)
	s := strings.Repeat(`{"a":"b"},`, 100)
	b := []byte(s)
	if n := testing.AllocsPerRun(100, func() { _ = r.String(s); _ = r.Bytes(b) }); n != 0 {
		t.Errorf("String and Bytes without a secret: %v allocations, want 0", n)
	}
	body := []byte(strings.Repeat(`{"token":"`+tok+`","x":[1,2,3]},`, 200))
	z := r.Reader(&loopReader{b: body})
	p := make([]byte, chunk)
	for range 10 { // the first reads take the buffers and grow the output
		if _, err := z.Read(p); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(200, func() { _, _ = z.Read(p) }); n != 0 {
		t.Errorf("Read in the steady state: %v allocations, want 0", n)
	}
}

// loopReader returns b over and over.
type loopReader struct {
	b   []byte
	off int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.b[l.off:])
	l.off = (l.off + n) % len(l.b)
	return n, nil
}

// FuzzRedactor compares the stream, read in reads of sizes the fuzzer picks,
// with the whole-input redaction, with the oracle and, where no two
// occurrences overlap, with strings.Replacer.
func FuzzRedactor(f *testing.F) {
	f.Add("secret", "", []byte("a secret and a secret"), uint8(1))
	f.Add("abcd", "cdef", []byte("xabcdefx abcd cdef"), uint8(3))
	f.Add("a b/c", "aa", []byte("a+b%2Fc a%20b%2Fc aaa"), uint8(2))
	f.Add("tok3n", "k", []byte("tok3ntok3n"), uint8(0))
	f.Fuzz(func(t *testing.T, s1, s2 string, in []byte, size uint8) {
		secrets := []string{s1, s2}
		r := NewRedactor(secrets...)
		want, overlapped := oracle(secrets, string(in))
		if got := string(r.Bytes(in)); got != want {
			t.Fatalf("Bytes: got %q, want %q", got, want)
		}
		got, err := io.ReadAll(r.Reader(&chunkReader{b: in, size: int(size%16) + 1}))
		if err != nil || string(got) != want {
			t.Fatalf("stream in reads of %d: got %q, %v; want %q", size%16+1, got, err, want)
		}
		if !overlapped {
			var oldnew []string
			for _, f := range r.strs {
				oldnew = append(oldnew, f, Marker)
			}
			if rep := strings.NewReplacer(oldnew...).Replace(string(in)); rep != want {
				t.Fatalf("strings.Replacer: %q, the Redactor %q", rep, want)
			}
		}
	})
}
