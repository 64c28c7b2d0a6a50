package configfile_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/internal/configfile"
)

type file struct {
	Addr     string `json:"addr"`
	Projects []struct {
		ID string `json:"id"`
	} `json:"projects"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"ok", `{"addr": "x", "projects": [{"id": "p"}]}`, ""},
		{"syntax", "{\n  \"addr\": \"x\",\n  oops\n}", "line 3, column"},
		{"eof", `{"addr": `, "line 1 (end of file)"},
		{"type", `{"projects": [{"id": 5}]}`, "$.projects[0].id: expected string, got JSON number"},
		{"unknown", `{"adr": "x"}`, `$: json: unknown field "adr"`},
		{"two values", `{} {}`, "more than one JSON value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f file
			err := configfile.Decode([]byte(tc.in), &f)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ps configfile.Problems
			if !errors.As(err, &ps) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReport(t *testing.T) {
	var out bytes.Buffer
	var ps configfile.Problems
	ps.Add("$.a", "bad %d", 1)
	ps.Add("$.b[0]", "required")
	if err := configfile.Report(&out, ps); err == nil || err.Error() != "2 problem(s) in the config" {
		t.Fatalf("err %v", err)
	}
	if out.String() != "$.a: bad 1\n$.b[0]: required\n" {
		t.Fatalf("got %q", out.String())
	}
	other := errors.New("open x: no such file")
	if err := configfile.Report(&out, other); err != other {
		t.Fatalf("a non-problem error: %v", err)
	}
}

func ExampleReport() {
	var f file
	err := configfile.Decode([]byte(`{"addr": 8080, "projects": []}`), &f)
	_ = configfile.Report(os.Stdout, err)
	// Output:
	// $.addr: expected string, got JSON number
}
