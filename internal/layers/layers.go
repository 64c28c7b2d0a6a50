// Package layers holds the rule of which of the module's packages may import
// which, and the check that enforces it (run by this package's tests, so by
// ./test.sh and CI). It is the table of ../shared/ARCHITECTURE.md in code:
// imports run one way, from the assembly down to the leaves.
package layers

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Module is the core module's path.
const Module = "github.com/onbehalf/onbehalf"

// Any allows a package to import every package of the module.
const Any = "*"

// Allowed maps each package of the core module (its path relative to the
// module root) to the module packages its non-test files may import. A
// package missing here fails the check: a new package takes a row.
var Allowed = map[string][]string{
	"hosts":                 {},
	"response":              {},
	"tokens":                {},
	"tokens/storetest":      {"tokens"},
	"integrations":          {"tokens", "hosts"},
	"limits":                {},
	"middleware/upstream":   {"integrations", "tokens", "hosts", "response", "limits"},
	"middleware":            {"integrations", "tokens", "hosts", "response", "middleware/upstream", "limits"},
	"connect":               {"integrations", "tokens", "response"},
	"lifecycle":             {"tokens"},
	"lifecycle/outboxtest":  {"lifecycle"},
	"internal/layers":       {},
	"internal/envproxytest": {},
	"internal/configfile":   {},
	"internal/testsummary":  {},
	"onbehalftest":          {Any},
	"example":               {Any},
	"bench":                 {Any},
	"cmd/onbehalf":          {Any},
}

// Violation is one import the rule does not allow.
type Violation struct {
	Package string // relative to the module root
	File    string
	Import  string // relative to the module root
}

func (v Violation) String() string {
	return fmt.Sprintf("%s (%s) imports %s", v.Package, v.File, v.Import)
}

// Check walks the module rooted at root (skipping nested modules, testdata,
// node_modules and hidden directories) and returns every import of a module
// package by a non-test file that allowed does not list, and the packages
// allowed has no row for.
func Check(root string, allowed map[string][]string) (violations []Violation, unknown []string, err error) {
	seen := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			if path != root {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // a nested module: its own rules
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rules, known := allowed[pkg]
		if !known {
			if !seen[pkg] {
				seen[pkg] = true
				unknown = append(unknown, pkg)
			}
			return nil
		}
		for _, spec := range f.Imports {
			ip, _ := strconv.Unquote(spec.Path.Value)
			if ip != Module && !strings.HasPrefix(ip, Module+"/") {
				continue
			}
			dep := strings.TrimPrefix(strings.TrimPrefix(ip, Module), "/")
			if slices.Contains(rules, Any) || slices.Contains(rules, dep) {
				continue
			}
			violations = append(violations, Violation{Package: pkg, File: filepath.Base(path), Import: dep})
		}
		return nil
	})
	sort.Strings(unknown)
	return violations, unknown, err
}
