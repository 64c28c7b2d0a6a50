package layers

import (
	"os"
	"path/filepath"
	"testing"
)

// TestImportDirection holds the module to the table in Allowed: a package
// importing one it must not (connect importing middleware, integrations
// importing the proxy stages) fails here, and so does a package without a row.
func TestImportDirection(t *testing.T) {
	violations, unknown, err := Check(filepath.Join("..", ".."), Allowed)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Errorf("import not allowed: %s", v)
	}
	for _, p := range unknown {
		t.Errorf("package %s has no row in layers.Allowed: add one", p)
	}
}

// TestCheckFindsViolations: the check itself sees a forbidden import, an
// allowed one, a package without a row, and skips tests and nested modules.
func TestCheckFindsViolations(t *testing.T) {
	root := t.TempDir()
	write := func(rel, src string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("connect/a.go", "package connect\nimport (\n\t_ \""+Module+"/middleware\"\n\t_ \""+Module+"/tokens\"\n\t_ \"net/http\"\n)\n")
	write("connect/a_test.go", "package connect\nimport _ \""+Module+"/example\"\n")
	write("newpkg/b.go", "package newpkg\n")
	write("nested/go.mod", "module x\n")
	write("nested/c.go", "package nested\nimport _ \""+Module+"/middleware\"\n")
	violations, unknown, err := Check(root, map[string][]string{"connect": {"tokens"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(violations) != 1 || violations[0].Package != "connect" || violations[0].Import != "middleware" {
		t.Errorf("violations = %v, want connect importing middleware only", violations)
	}
	if len(unknown) != 1 || unknown[0] != "newpkg" {
		t.Errorf("unknown = %v, want [newpkg]", unknown)
	}
}
