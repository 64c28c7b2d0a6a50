package hosts

import (
	"fmt"
	"slices"
	"strings"
)

// Allowlist is a compiled, immutable set of host patterns. A pattern is an
// exact name ("api.example.com") or a wildcard suffix ("*.example.com"). A
// wildcard matches any name with at least one more label, on a label
// boundary: "a.example.com" and "a.b.example.com", never "example.com"
// itself, "evilexample.com" or "example.com.evil.com".
//
// Matching is ASCII case-insensitive, ignores one trailing dot and takes host
// names without a port. Internationalized names are matched in their punycode
// form ("xn--..."); raw non-ASCII names never match. The zero value and a nil
// *Allowlist allow nothing. An Allowlist is safe for concurrent use.
type Allowlist struct {
	patterns []string            // normalized, in the order given, without duplicates
	exact    map[string]struct{} // "api.example.com"
	wild     map[string]struct{} // "example.com" for "*.example.com"
}

// NewAllowlist compiles patterns. Each pattern must be a DNS name of labels
// of letters, digits and hyphens (no leading or trailing hyphen, 1 to 63
// bytes each, at most 253 bytes in all), optionally preceded by one whole
// "*." label. A wildcard must cover at least two labels ("*.com" is refused
// as too broad). IP literals, ports, schemes, paths and non-ASCII names are
// refused. The error names the bad pattern. No patterns at all is valid and
// gives an Allowlist that allows nothing.
func NewAllowlist(patterns ...string) (*Allowlist, error) {
	a := &Allowlist{exact: map[string]struct{}{}, wild: map[string]struct{}{}}
	for _, p := range patterns {
		norm, wildcard, err := compilePattern(p)
		if err != nil {
			return nil, err
		}
		if slices.Contains(a.patterns, norm) {
			continue
		}
		a.patterns = append(a.patterns, norm)
		if wildcard {
			a.wild[strings.TrimPrefix(norm, "*.")] = struct{}{}
		} else {
			a.exact[norm] = struct{}{}
		}
	}
	return a, nil
}

func compilePattern(p string) (norm string, wildcard bool, err error) {
	bad := func(why string) error {
		return fmt.Errorf("hosts: invalid allowlist pattern %s: %s", quoteHost(p), why)
	}
	if p == "" {
		return "", false, bad("empty")
	}
	if strings.Contains(p, "://") || strings.ContainsAny(p, ":/[]@?#%\\ ") {
		return "", false, bad("want a bare host name, without scheme, port, path or brackets")
	}
	name, ok := asciiLower(p)
	if !ok {
		return "", false, bad("non-ASCII or control byte (use punycode, xn--)")
	}
	name = strings.TrimSuffix(name, ".")
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		wildcard, name = true, rest
		if !strings.Contains(name, ".") {
			return "", false, bad("wildcard over a single label is too broad")
		}
	}
	if strings.Contains(name, "*") {
		return "", false, bad("wildcard only as a whole leading \"*.\" label")
	}
	if len(name) == 0 || len(name) > maxNameLen {
		return "", false, bad("length")
	}
	for label := range strings.SplitSeq(name, ".") {
		if len(label) == 0 || len(label) > maxLabelLen {
			return "", false, bad("empty or over-long label")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", false, bad("label starts or ends with a hyphen")
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isLowerAlnum(c) && c != '-' {
				return "", false, bad("labels take letters, digits and hyphens only")
			}
		}
	}
	if endsInNumber(name) {
		return "", false, bad("IP literal")
	}
	if wildcard {
		return "*." + name, true, nil
	}
	return name, false, nil
}

// Allows reports whether host (without port) matches a pattern. Hosts that
// fail CheckHost (IP literals, empty labels, non-ASCII) never match.
func (a *Allowlist) Allows(host string) bool {
	if a == nil || len(a.patterns) == 0 {
		return false
	}
	name, err := normalizeHost(host)
	if err != nil {
		return false
	}
	if _, ok := a.exact[name]; ok {
		return true
	}
	// Try each proper suffix that starts on a label boundary:
	// for "a.b.example.com": "b.example.com", "example.com", "com".
	for i := 0; i < len(name); i++ {
		if name[i] != '.' {
			continue
		}
		if _, ok := a.wild[name[i+1:]]; ok {
			return true
		}
	}
	return false
}

// Patterns returns the normalized patterns (lower case, no trailing dot,
// without duplicates) in the order given. The caller may modify the slice.
func (a *Allowlist) Patterns() []string {
	if a == nil {
		return nil
	}
	return slices.Clone(a.patterns)
}
