package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/middleware/upstream"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// fileConfig is the standalone mode's JSON file; the README documents it.
type fileConfig struct {
	Addr        string                     `json:"addr,omitempty"`
	Prefix      string                     `json:"prefix,omitempty"`
	Projects    []middleware.ProjectConfig `json:"projects"`
	Connections []connectionConfig         `json:"connections,omitempty"`

	TimeoutSeconds          int   `json:"timeoutSeconds,omitempty"`
	MaxRequestBytes         int64 `json:"maxRequestBytes,omitempty"`
	MaxJSONResponseBytes    int64 `json:"maxJsonResponseBytes,omitempty"`
	ClockSkewSeconds        int   `json:"clockSkewSeconds,omitempty"`
	MaxTokenLifetimeSeconds int   `json:"maxTokenLifetimeSeconds,omitempty"`

	Refresh struct {
		MarginSeconds   int `json:"marginSeconds,omitempty"`
		TimeoutSeconds  int `json:"timeoutSeconds,omitempty"`
		CooldownSeconds int `json:"cooldownSeconds,omitempty"`
	} `json:"refresh,omitzero"`
}

type connectionConfig struct {
	Project     string            `json:"project"`
	User        string            `json:"user"`
	Integration string            `json:"integration"`
	ID          string            `json:"id,omitempty"`
	Credential  tokens.Credential `json:"credential"`
	Fields      map[string]string `json:"fields,omitempty"`
}

// problem is one config error with its JSON path.
type problem struct {
	path string
	msg  string
}

// problems is every error found in a config file.
type problems []problem

func (ps problems) Error() string {
	var b bytes.Buffer
	for i, p := range ps {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", p.path, p.msg)
	}
	return b.String()
}

func loadConfig(path string) (*fileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg fileConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line, col := position(data, se.Offset)
			return nil, problems{{fmt.Sprintf("line %d, column %d", line, col), se.Error()}}
		case errors.As(err, &te):
			return nil, problems{{jsonPath(te.Field), fmt.Sprintf("expected %s, got JSON %s", te.Type, te.Value)}}
		case errors.Is(err, io.ErrUnexpectedEOF):
			line, _ := position(data, int64(len(data)))
			return nil, problems{{fmt.Sprintf("line %d (end of file)", line), "unexpected end of JSON: a bracket or brace is not closed"}}
		}
		return nil, problems{{"$", err.Error()}}
	}
	if ps := cfg.validate(); len(ps) > 0 {
		return nil, ps
	}
	return &cfg, nil
}

// jsonPath turns encoding/json's dotted field path ("projects.0.id") into
// "$.projects[0].id".
func jsonPath(field string) string {
	var b strings.Builder
	b.WriteString("$")
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

// validate checks each part on its own so every problem is named by its path.
func (c *fileConfig) validate() problems {
	var ps problems
	if len(c.Projects) == 0 {
		ps = append(ps, problem{"$.projects", "at least one project is required"})
	}
	keys := map[string]map[string]bool{} // project → integration keys
	for i, p := range c.Projects {
		at := fmt.Sprintf("$.projects[%d]", i)
		if p.ID == "" {
			ps = append(ps, problem{at + ".id", "required"})
			continue
		}
		if keys[p.ID] != nil {
			ps = append(ps, problem{at + ".id", fmt.Sprintf("project %q defined twice", p.ID)})
		}
		keys[p.ID] = map[string]bool{}
		if _, err := middleware.NewAuth(middleware.AuthConfig{Projects: []middleware.ProjectConfig{{ID: p.ID, Keys: p.Keys, JWKSURL: p.JWKSURL}}}); err != nil {
			ps = append(ps, problem{at + ".keys", err.Error()})
		}
		for j, ic := range p.Integrations {
			in, err := integrations.New(ic)
			if err != nil {
				ps = append(ps, problem{fmt.Sprintf("%s.integrations[%d]", at, j), err.Error()})
				continue
			}
			keys[p.ID][in.Key()] = true
		}
	}
	for i, cc := range c.Connections {
		at := fmt.Sprintf("$.connections[%d]", i)
		switch {
		case cc.User == "":
			ps = append(ps, problem{at + ".user", "required"})
		case keys[cc.Project] == nil:
			ps = append(ps, problem{at + ".project", fmt.Sprintf("no project %q", cc.Project)})
		case !keys[cc.Project][cc.Integration]:
			ps = append(ps, problem{at + ".integration", fmt.Sprintf("project %q has no integration %q", cc.Project, cc.Integration)})
		}
	}
	if c.TimeoutSeconds < 0 || c.MaxJSONResponseBytes < 0 || c.ClockSkewSeconds < 0 || c.MaxTokenLifetimeSeconds < 0 {
		ps = append(ps, problem{"$", "timeouts and sizes must not be negative"})
	}
	return ps
}

func reportCheck(w io.Writer, err error) error {
	var ps problems
	switch {
	case err == nil:
		fmt.Fprintln(w, "config OK")
		return nil
	case errors.As(err, &ps):
		for _, p := range ps {
			fmt.Fprintf(w, "%s: %s\n", p.path, p.msg)
		}
		return fmt.Errorf("%d problem(s) in the config", len(ps))
	}
	return err
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

func newConfigServer(c *fileConfig, log *slog.Logger) (*server, error) {
	store := tokens.NewMemoryStore()
	for i, cc := range c.Connections {
		conn := &tokens.Connection{Project: cc.Project, User: cc.User, Integration: cc.Integration, ID: cc.ID,
			Credential: cc.Credential, Fields: cc.Fields}
		if err := store.Save(context.Background(), conn); err != nil {
			return nil, fmt.Errorf("connections[%d]: %w", i, err)
		}
	}
	refresher, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store,
		Margin: seconds(c.Refresh.MarginSeconds), Timeout: seconds(c.Refresh.TimeoutSeconds), Cooldown: seconds(c.Refresh.CooldownSeconds),
		OnRefreshFailed: func(ev tokens.RefreshEvent, err error) {
			log.Warn("refresh failed", "connection", ev.Key.String(), "needsReauth", ev.NeedsReauth, "err", err)
		}})
	if err != nil {
		return nil, err
	}
	h, err := middleware.New(middleware.Config{
		Prefix:    c.Prefix,
		Projects:  c.Projects,
		Store:     store,
		Observer:  &middleware.LogObserver{Logger: log},
		Refresher: refresher,
		Auth: middleware.AuthConfig{ClockSkew: seconds(c.ClockSkewSeconds),
			MaxLifetime: seconds(c.MaxTokenLifetimeSeconds)},
		Forwarder: upstream.Config{Timeout: seconds(c.TimeoutSeconds), MaxRequestBytes: c.MaxRequestBytes,
			Response: response.Config{MaxJSONBytes: c.MaxJSONResponseBytes},
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
	})
	if err != nil {
		return nil, err
	}
	return &server{handler: h, close: h.Close}, nil
}

// printUserToken mints a user token with the project's private key, for
// local testing of the standalone mode.
func printUserToken(w io.Writer, c *fileConfig, keyPath, project, user string) error {
	if keyPath == "" || user == "" {
		return errors.New("-print-token needs -key FILE and -user ID")
	}
	if project == "" {
		if len(c.Projects) != 1 {
			return errors.New("-print-token needs -project when the config has several projects")
		}
		project = c.Projects[0].ID
	}
	pemData, err := os.ReadFile(keyPath)
	if err != nil {
		return err
	}
	s, err := onbehalftest.NewSignerFromPEM(string(pemData), "")
	if err != nil {
		return err
	}
	tok, err := s.Token(project, user, onbehalftest.TokenOptions{TTL: 24 * time.Hour})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, tok)
	return nil
}
