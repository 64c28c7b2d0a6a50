package hosts

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxDecodeLevels bounds how many layers of percent-encoding checkPath peels
// off. A path still changing after that many decodings is refused.
const maxDecodeLevels = 8

// checkPath checks an escaped path at every level of percent-decoding, so
// that a server (or a chain of proxies) decoding it once, twice or more never
// sees a dot-segment, a slash or backslash that was not a literal slash, or a
// control byte. The raw level must be well-formed percent-encoding; deeper
// levels decode leniently ("100%" is data, not a bad escape), the way
// forgiving servers do.
func checkPath(raw string) error {
	s := raw
	for level := 0; level < maxDecodeLevels; level++ {
		if err := checkPathLevel(s); err != nil {
			return err
		}
		var next string
		if level == 0 {
			if !validEscapes(s) {
				return fmt.Errorf("%w: invalid percent-encoding", ErrBadURL)
			}
		}
		next = lenientUnescape(s)
		if next == s {
			return nil
		}
		s = next
	}
	return fmt.Errorf("%w: too many levels of percent-encoding", ErrPathEscape)
}

// checkPathLevel checks one decoding level of a path.
func checkPathLevel(s string) error {
	if !utf8.ValidString(s) {
		// Also refuses overlong encodings such as %c0%ae ('.') and %c0%af ('/').
		return fmt.Errorf("%w: invalid UTF-8 in path", ErrBadURL)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("%w: control character in path", ErrBadURL)
		case c == '\\':
			return fmt.Errorf("%w: backslash in path", ErrPathEscape)
		case c == '%' && i+2 < len(s) && s[i+1] == '2' && (s[i+2] == 'f' || s[i+2] == 'F'):
			return fmt.Errorf("%w: encoded slash in path", ErrPathEscape)
		case c == '%' && i+2 < len(s) && s[i+1] == '5' && (s[i+2] == 'c' || s[i+2] == 'C'):
			return fmt.Errorf("%w: encoded backslash in path", ErrPathEscape)
		}
	}
	for seg := range strings.SplitSeq(s, "/") {
		if isDotSegment(seg) {
			return fmt.Errorf("%w: dot-segment in path", ErrPathEscape)
		}
	}
	return nil
}

// isDotSegment reports whether seg is "." or ".." as any server might read
// it: Tomcat drops ";params" ("..;x"), Windows servers trim spaces and
// trailing dots (".. ", "..."). A segment of only dots is never a real name.
func isDotSegment(seg string) bool {
	seg, _, _ = strings.Cut(seg, ";")
	seg = strings.Trim(seg, " \t")
	return seg != "" && strings.Trim(seg, ".") == ""
}

// checkQuery checks a raw query, which the transport sends verbatim: no
// control bytes, spaces or '#' that could split or truncate the request line.
func checkQuery(q string) error {
	for i := 0; i < len(q); i++ {
		if c := q[i]; c <= ' ' || c == 0x7f || c == '#' {
			return fmt.Errorf("%w: invalid byte in query", ErrBadURL)
		}
	}
	return nil
}

// validEscapes reports whether every '%' in s starts a %XX escape.
func validEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

// lenientUnescape decodes each valid %XX escape and leaves anything else as is.
func lenientUnescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
