package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/onbehalf/onbehalf/internal/configfile"
)

// loaded is a config with the paths of the values that came from
// environment references.
type loaded struct {
	*Config
	fromEnv map[string]bool // JSON path → resolved from {"env": ...}
}

// loadConfig reads, resolves, decodes and validates the file at path.
// getenv looks up environment variables (os.LookupEnv in main).
func loadConfig(path string, getenv func(string) (string, bool)) (*loaded, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseConfig(data, getenv)
}

// parseConfig decodes data in two passes: into a generic tree, where every
// {"env": "NAME"} is replaced by the variable's value, then strictly into a
// Config (configfile.Decode), so that paths in problems are the file's.
func parseConfig(data []byte, getenv func(string) (string, bool)) (*loaded, error) {
	var tree any
	if err := configfile.Decode(data, &tree); err != nil {
		return nil, err
	}
	l := &loaded{fromEnv: map[string]bool{}}
	var ps configfile.Problems
	tree = resolveEnv(tree, "$", getenv, l.fromEnv, &ps)
	if len(ps) > 0 {
		return nil, ps
	}
	resolved, err := json.Marshal(tree)
	if err != nil {
		return nil, configfile.Problems{{Path: "$", Message: err.Error()}}
	}
	var cfg Config
	if err := configfile.Decode(resolved, &cfg); err != nil {
		return nil, err
	}
	l.Config = &cfg
	if ps := l.validate(); len(ps) > 0 {
		return nil, ps
	}
	return l, nil
}

// resolveEnv replaces every object of the form {"env": "NAME"} with the
// value of the environment variable NAME, recording its path. A variable
// that is unset or empty is a problem at that path (its value is never
// printed).
func resolveEnv(v any, path string, getenv func(string) (string, bool), fromEnv map[string]bool, ps *configfile.Problems) any {
	switch t := v.(type) {
	case map[string]any:
		if name, ok := t["env"].(string); ok && len(t) == 1 {
			val, set := getenv(name)
			if !set || val == "" {
				ps.Add(path, "environment variable %s is not set", name)
				return ""
			}
			fromEnv[path] = true
			return val
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t[k] = resolveEnv(t[k], path+"."+k, getenv, fromEnv, ps)
		}
	case []any:
		for i := range t {
			t[i] = resolveEnv(t[i], fmt.Sprintf("%s[%d]", path, i), getenv, fromEnv, ps)
		}
	}
	return v
}
