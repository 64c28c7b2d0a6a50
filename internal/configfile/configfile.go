package configfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Problem is one config error: where (a JSON path such as
// "$.projects[0].id", or "line 3, column 4") and what.
type Problem struct {
	Path    string
	Message string
}

// Problems is every error found in a config file. Its Error joins them.
type Problems []Problem

func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", p.Path, p.Message)
	}
	return b.String()
}

// Add appends the problem at path, its message formatted like fmt.Sprintf.
func (ps *Problems) Add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Decode decodes data into v strictly: unknown fields, a second JSON value
// and type mismatches are errors. Its error is Problems: a syntax error
// named by line and column, a type mismatch by the field's JSON path.
func Decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			return Problems{{Path: "$", Message: "more than one JSON value in the file"}}
		}
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := position(data, se.Offset)
		return Problems{{Path: fmt.Sprintf("line %d, column %d", line, col), Message: se.Error()}}
	case errors.As(err, &te):
		return Problems{{Path: Path(te.Field), Message: fmt.Sprintf("expected %s, got JSON %s", te.Type, te.Value)}}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		line, _ := position(data, int64(len(data)))
		return Problems{{Path: fmt.Sprintf("line %d (end of file)", line), Message: "unexpected end of JSON: a bracket or brace is not closed"}}
	}
	// Unknown fields and the like: encoding/json's message names the field
	// and holds no value of the file.
	return Problems{{Path: "$", Message: err.Error()}}
}

// Path turns encoding/json's dotted field path ("projects.0.id") into a
// JSON path ("$.projects[0].id").
func Path(field string) string {
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

// position returns the 1-based line and column of byte offset off.
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

// Report writes the outcome of a check to w: "config OK" when err is nil,
// else each problem on its own line. It returns nil, an error counting the
// problems, or err itself when it is not Problems.
func Report(w io.Writer, err error) error {
	var ps Problems
	switch {
	case err == nil:
		fmt.Fprintln(w, "config OK")
		return nil
	case errors.As(err, &ps):
		for _, p := range ps {
			fmt.Fprintf(w, "%s: %s\n", p.Path, p.Message)
		}
		return fmt.Errorf("%d problem(s) in the config", len(ps))
	}
	return err
}
