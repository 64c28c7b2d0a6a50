package main

import (
	"strings"
	"testing"
)

const sample = `{"Action":"start","Package":"example.com/a"}
{"Action":"run","Package":"example.com/a","Test":"TestOK"}
{"Action":"output","Package":"example.com/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"pass","Package":"example.com/a","Test":"TestOK","Elapsed":0.01}
{"Action":"run","Package":"example.com/a","Test":"TestNode"}
{"Action":"output","Package":"example.com/a","Test":"TestNode","Output":"=== RUN   TestNode\n"}
{"Action":"output","Package":"example.com/a","Test":"TestNode","Output":"    sdk_test.go:103: skipping: node not found\n"}
{"Action":"output","Package":"example.com/a","Test":"TestNode","Output":"--- SKIP: TestNode (0.00s)\n"}
{"Action":"skip","Package":"example.com/a","Test":"TestNode","Elapsed":0}
{"Action":"pass","Package":"example.com/a","Elapsed":0.2}
not json: go: downloading something
{"Action":"run","Package":"example.com/b","Test":"TestBad"}
{"Action":"output","Package":"example.com/b","Test":"TestBad","Output":"=== RUN   TestBad\n"}
{"Action":"output","Package":"example.com/b","Test":"TestBad","Output":"    b_test.go:9: got 1, want 2\n"}
{"Action":"output","Package":"example.com/b","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"fail","Package":"example.com/b","Test":"TestBad","Elapsed":0}
{"Action":"output","Package":"example.com/b","Output":"FAIL\n"}
{"Action":"fail","Package":"example.com/b","Elapsed":0.1}
{"Action":"skip","Package":"example.com/c","Elapsed":0}
`

func run(t *testing.T, in string) (string, bool) {
	t.Helper()
	var out strings.Builder
	s := newSummary(&out)
	if err := s.read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	ok := s.finish()
	return out.String(), ok
}

func TestSummary(t *testing.T) {
	out, ok := run(t, sample)
	if ok {
		t.Error("a failing run reported success")
	}
	for _, want := range []string{
		"ok  \texample.com/a\t0.200s\n",
		"not json: go: downloading something\n",
		"--- FAIL: example.com/b TestBad (0.00s)\n",
		"    b_test.go:9: got 1, want 2\n",
		"FAIL\texample.com/b\t0.100s\n",
		"?   \texample.com/c\t[no test files]\n",
		"=== SKIPPED (1)",
		"SKIP example.com/a TestNode\n    sdk_test.go:103: skipping: node not found\n",
		"tests: 1 passed, 1 failed, 1 skipped\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "=== RUN   TestOK") {
		t.Errorf("a passing test's output was printed:\n%s", out)
	}
}

func TestSummaryPass(t *testing.T) {
	in := strings.SplitAfter(sample, "not json")[0]
	in = in[:strings.LastIndex(in, "\n")+1]
	out, ok := run(t, in)
	if !ok || strings.Contains(out, "FAIL") {
		t.Fatalf("a passing run: ok %v\n%s", ok, out)
	}
}

func TestSummaryBuildFailure(t *testing.T) {
	in := `{"ImportPath":"example.com/d [example.com/d.test]","Action":"build-output","Output":"d_test.go:3:1: syntax error\n"}
{"ImportPath":"example.com/d [example.com/d.test]","Action":"build-fail"}
{"Action":"start","Package":"example.com/d"}
{"Action":"output","Package":"example.com/d","Output":"FAIL\texample.com/d [build failed]\n"}
{"Action":"fail","Package":"example.com/d","Elapsed":0}
`
	out, ok := run(t, in)
	if ok || !strings.Contains(out, "syntax error") || !strings.Contains(out, "FAIL\texample.com/d") {
		t.Fatalf("a build failure: ok %v\n%s", ok, out)
	}
}

// TestSummaryCutShort: a test that started and never ended (the binary
// crashed or was killed) is a failure, and its output is shown.
func TestSummaryCutShort(t *testing.T) {
	in := `{"Action":"run","Package":"example.com/e","Test":"TestHang"}
{"Action":"output","Package":"example.com/e","Test":"TestHang","Output":"=== RUN   TestHang\n"}
`
	out, ok := run(t, in)
	if ok || !strings.Contains(out, "UNFINISHED: example.com/e TestHang") {
		t.Fatalf("ok %v\n%s", ok, out)
	}
}
