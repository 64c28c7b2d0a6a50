// Command testsummary reads `go test -json` output on standard input (any
// number of runs, one after the other) and prints what a person needs from
// it: one line per package (ok, FAIL, or no test files), the whole output of
// every failing test, and at the end a list of every skipped test with its
// package and skip message, then a count.
//
//	go test -race -count=1 -json ./... | go run ./internal/testsummary
//
// It exits 1 when any test or package failed (a build failure included), 0
// otherwise. Lines that are not JSON are printed as they come. test.sh runs
// it over every module.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

func main() {
	s := newSummary(os.Stdout)
	if err := s.read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if !s.finish() {
		os.Exit(1)
	}
}

// read feeds every line of r to the summary.
func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20) // a test may print long lines
	for sc.Scan() {
		s.line(sc.Bytes())
	}
	return sc.Err()
}
