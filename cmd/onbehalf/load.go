package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// problem is one config error with its JSON path.
type problem struct {
	path string
	msg  string
}

// problems is every error found in a config file.
type problems []problem

func (ps problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", p.path, p.msg)
	}
	return b.String()
}

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

func parseConfig(data []byte, getenv func(string) (string, bool)) (*loaded, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, syntaxProblem(data, err)
	}
	if dec.More() {
		return nil, problems{{"$", "more than one JSON value in the file"}}
	}
	l := &loaded{fromEnv: map[string]bool{}}
	var ps problems
	tree = resolveEnv(tree, "$", getenv, l.fromEnv, &ps)
	if len(ps) > 0 {
		return nil, ps
	}
	resolved, err := json.Marshal(tree)
	if err != nil {
		return nil, problems{{"$", err.Error()}}
	}
	var cfg Config
	dec = json.NewDecoder(bytes.NewReader(resolved))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, problems{{jsonPath(te.Field), fmt.Sprintf("expected %s, got JSON %s", te.Type, te.Value)}}
		}
		// Unknown fields and the like: encoding/json's message names the
		// field; it holds no value of the file.
		return nil, problems{{"$", err.Error()}}
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
func resolveEnv(v any, path string, getenv func(string) (string, bool), fromEnv map[string]bool, ps *problems) any {
	switch t := v.(type) {
	case map[string]any:
		if name, ok := t["env"].(string); ok && len(t) == 1 {
			val, set := getenv(name)
			if !set || val == "" {
				*ps = append(*ps, problem{path, fmt.Sprintf("environment variable %s is not set", name)})
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

func syntaxProblem(data []byte, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		line, col := position(data, se.Offset)
		return problems{{fmt.Sprintf("line %d, column %d", line, col), se.Error()}}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		line, _ := position(data, int64(len(data)))
		return problems{{fmt.Sprintf("line %d (end of file)", line), "unexpected end of JSON: a bracket or brace is not closed"}}
	}
	return problems{{"$", err.Error()}}
}

// jsonPath turns encoding/json's dotted field path ("projects.0.id") into
// "$.projects[0].id".
func jsonPath(field string) string {
	var b strings.Builder
	b.WriteString("$")
	if field == "" {
		return b.String()
	}
	for _, part := range strings.Split(field, ".") {
		if _, err := strconv.Atoi(part); err == nil {
			b.WriteString("[" + part + "]")
		} else {
			b.WriteString("." + part)
		}
	}
	return b.String()
}

func position(data []byte, off int64) (line, col int) {
	line, col = 1, 1
	for _, c := range data[:min(int(off), len(data))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}
