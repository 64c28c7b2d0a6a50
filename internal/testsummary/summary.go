package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// event is one line of `go test -json` (see `go doc test2json`).
type event struct {
	Time       time.Time
	Action     string
	Package    string
	ImportPath string // build-output and build-fail events
	Test       string
	Elapsed    float64
	Output     string
}

// skipped is one skipped test and what it said.
type skipped struct {
	pkg, test, why string
}

type testKey struct{ pkg, test string }

type summary struct {
	w io.Writer

	out     map[testKey]*strings.Builder // output of tests (and packages: test "") still running
	skips   []skipped
	failed  bool
	nPass   int
	nFail   int
	noTests int
}

func newSummary(w io.Writer) *summary {
	return &summary{w: w, out: map[testKey]*strings.Builder{}}
}

// line handles one line of input.
func (s *summary) line(b []byte) {
	var e event
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &e) != nil || e.Action == "" {
		fmt.Fprintf(s.w, "%s\n", b)
		return
	}
	switch e.Action {
	case "build-output":
		fmt.Fprint(s.w, e.Output)
		return
	case "build-fail":
		s.failed = true
		return
	}
	k := testKey{e.Package, e.Test}
	switch e.Action {
	case "output":
		buf := s.out[k]
		if buf == nil {
			buf = &strings.Builder{}
			s.out[k] = buf
		}
		buf.WriteString(e.Output)
	case "pass", "fail", "skip":
		output := ""
		if buf := s.out[k]; buf != nil {
			output = buf.String()
			delete(s.out, k)
		}
		if e.Test == "" {
			s.packageDone(e, output)
		} else {
			s.testDone(e, output)
		}
	}
}

func (s *summary) testDone(e event, output string) {
	switch e.Action {
	case "pass":
		s.nPass++
	case "fail":
		s.nFail++
		s.failed = true
		fmt.Fprintf(s.w, "--- FAIL: %s %s (%.2fs)\n%s", e.Package, e.Test, e.Elapsed, indent(output))
	case "skip":
		s.skips = append(s.skips, skipped{e.Package, e.Test, skipReason(output)})
	}
}

func (s *summary) packageDone(e event, output string) {
	switch e.Action {
	case "pass":
		fmt.Fprintf(s.w, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
	case "skip": // no test files, or nothing matched
		s.noTests++
		fmt.Fprintf(s.w, "?   \t%s\t[no test files]\n", e.Package)
	case "fail":
		s.failed = true
		// What the package printed outside any test: a panic, a build
		// error, TestMain, a race report.
		if strings.TrimSpace(output) != "" {
			fmt.Fprint(s.w, indent(output))
		}
		fmt.Fprintf(s.w, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
	}
}

// skipReason keeps what a skipped test printed, less go test's own lines.
func skipReason(output string) string {
	var lines []string
	for l := range strings.SplitSeq(output, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		lines = append(lines, t)
	}
	if len(lines) == 0 {
		return "(no message)"
	}
	return strings.Join(lines, "\n")
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}

// finish prints the skipped tests and the counts, and reports whether
// nothing failed.
func (s *summary) finish() bool {
	// Output of tests that never ended: the run was cut short.
	for k, buf := range s.out {
		if k.test != "" && strings.TrimSpace(buf.String()) != "" {
			s.failed = true
			fmt.Fprintf(s.w, "--- UNFINISHED: %s %s\n%s", k.pkg, k.test, indent(buf.String()))
		}
	}
	bar := strings.Repeat("=", 72)
	if len(s.skips) > 0 {
		fmt.Fprintf(s.w, "\n%s\n=== SKIPPED (%d): these tests did not run\n%s\n", bar, len(s.skips), bar)
		for _, sk := range s.skips {
			fmt.Fprintf(s.w, "SKIP %s %s\n%s", sk.pkg, sk.test, indent(sk.why))
		}
		fmt.Fprintln(s.w, bar)
	} else {
		fmt.Fprintf(s.w, "\n=== SKIPPED (0)\n")
	}
	fmt.Fprintf(s.w, "tests: %d passed, %d failed, %d skipped\n", s.nPass, s.nFail, len(s.skips))
	if s.failed {
		fmt.Fprintln(s.w, "FAIL")
	}
	return !s.failed
}
