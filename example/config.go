package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/internal/configfile"
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

func loadConfig(path string) (*fileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg fileConfig
	if err := configfile.Decode(data, &cfg); err != nil {
		return nil, err
	}
	if ps := cfg.validate(); len(ps) > 0 {
		return nil, ps
	}
	return &cfg, nil
}

// validate checks each part on its own so every problem is named by its path.
func (c *fileConfig) validate() configfile.Problems {
	var ps configfile.Problems
	if len(c.Projects) == 0 {
		ps = append(ps, configfile.Problem{Path: "$.projects", Message: "at least one project is required"})
	}
	keys := map[string]map[string]bool{} // project → integration keys
	for i, p := range c.Projects {
		at := fmt.Sprintf("$.projects[%d]", i)
		if p.ID == "" {
			ps = append(ps, configfile.Problem{Path: at + ".id", Message: "required"})
			continue
		}
		if keys[p.ID] != nil {
			ps = append(ps, configfile.Problem{Path: at + ".id", Message: fmt.Sprintf("project %q defined twice", p.ID)})
		}
		keys[p.ID] = map[string]bool{}
		if _, err := middleware.NewAuth(middleware.AuthConfig{Projects: []middleware.ProjectConfig{{ID: p.ID, Keys: p.Keys, JWKSURL: p.JWKSURL}}}); err != nil {
			ps = append(ps, configfile.Problem{Path: at + ".keys", Message: err.Error()})
		}
		for j, ic := range p.Integrations {
			in, err := integrations.New(ic)
			if err != nil {
				ps = append(ps, configfile.Problem{Path: fmt.Sprintf("%s.integrations[%d]", at, j), Message: err.Error()})
				continue
			}
			keys[p.ID][in.Key()] = true
		}
	}
	for i, cc := range c.Connections {
		at := fmt.Sprintf("$.connections[%d]", i)
		switch {
		case cc.User == "":
			ps = append(ps, configfile.Problem{Path: at + ".user", Message: "required"})
		case keys[cc.Project] == nil:
			ps = append(ps, configfile.Problem{Path: at + ".project", Message: fmt.Sprintf("no project %q", cc.Project)})
		case !keys[cc.Project][cc.Integration]:
			ps = append(ps, configfile.Problem{Path: at + ".integration", Message: fmt.Sprintf("project %q has no integration %q", cc.Project, cc.Integration)})
		}
	}
	if c.TimeoutSeconds < 0 || c.MaxJSONResponseBytes < 0 || c.ClockSkewSeconds < 0 || c.MaxTokenLifetimeSeconds < 0 {
		ps = append(ps, configfile.Problem{Path: "$", Message: "timeouts and sizes must not be negative"})
	}
	return ps
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
