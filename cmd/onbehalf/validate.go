package main

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/internal/configfile"
	"github.com/onbehalf/onbehalf/middleware"
)

// secretRef is how the problems name the one accepted form of a secret.
const secretRef = `give it as {"env": "NAME"}, not inline`

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

// validate checks each part on its own so every problem is named by its path.
func (l *loaded) validate() configfile.Problems {
	c := l.Config
	var ps configfile.Problems
	add := ps.Add
	secret := func(path, value string) {
		if value != "" && !l.fromEnv[path] {
			add(path, "a secret: %s", secretRef)
		}
	}

	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			add("$.listen", "not a host:port address")
		}
	}
	if c.MetricsListen != "" {
		if _, port, err := net.SplitHostPort(c.MetricsListen); err != nil {
			add("$.metricsListen", "not a host:port address")
		} else if c.MetricsListen == c.Listen && port != "0" {
			add("$.metricsListen", "must differ from listen: metrics are served on a separate listener")
		}
	}
	if c.Manage.Listen != "" {
		if _, port, err := net.SplitHostPort(c.Manage.Listen); err != nil {
			add("$.manage.listen", "not a host:port address")
		} else if port != "0" && (c.Manage.Listen == c.Listen || c.Manage.Listen == c.MetricsListen) {
			add("$.manage.listen", "must differ from listen and metricsListen")
		}
	}
	if c.PublicURL == "" {
		add("$.publicUrl", "required: the externally visible base URL, such as https://integrations.example.com")
	} else if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.HasSuffix(u.Path, "/") {
		add("$.publicUrl", "must be an absolute http(s) URL without query, fragment, user info or trailing slash")
	}
	if t := c.TLS; t != nil {
		if t.CertFile == "" || t.KeyFile == "" {
			add("$.tls", "certFile and keyFile are both required")
		} else if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			add("$.tls", "cannot load the certificate and key: %v", err)
		}
	}
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		add("$.logLevel", `must be "debug", "info", "warn" or "error"`)
	}

	if len(c.Projects) == 0 {
		add("$.projects", "at least one project is required")
	}
	projects := map[string]bool{}
	for i, p := range c.Projects {
		at := fmt.Sprintf("$.projects[%d]", i)
		if p.ID == "" {
			add(at+".id", "required")
			continue
		}
		if projects[p.ID] {
			add(at+".id", "project %q defined twice", p.ID)
		}
		projects[p.ID] = true
		for j, k := range p.Keys {
			kat := fmt.Sprintf("%s.keys[%d].pem", at, j)
			if strings.Contains(k.PEM, "PRIVATE KEY") && !l.fromEnv[kat] {
				add(kat, "a private key: give the public key (only it is needed), or the private one as {\"env\": \"NAME\"}")
			}
		}
		if len(p.Keys) == 0 && p.JWKSURL == "" {
			add(at+".keys", "a project needs keys or a jwksUrl to verify user tokens")
		} else if _, err := middleware.NewAuth(middleware.AuthConfig{Projects: []middleware.ProjectConfig{{ID: p.ID, Keys: p.Keys, JWKSURL: p.JWKSURL}}}); err != nil {
			add(at+".keys", "%v", err)
		}
		keys := map[string]bool{}
		for j, ic := range p.Integrations {
			iat := fmt.Sprintf("%s.integrations[%d]", at, j)
			secret(iat+".auth.clientSecret", ic.Auth.ClientSecret)
			in, err := integrations.New(ic)
			if err != nil {
				add(iat, "%v", err)
				continue
			}
			if keys[in.Key()] {
				add(iat, "integration %q defined twice", in.Key())
			}
			keys[in.Key()] = true
		}
	}

	ps = append(ps, l.validateStore()...)

	returnProjects := make([]string, 0, len(c.Connect.ReturnURLs))
	for p := range c.Connect.ReturnURLs {
		returnProjects = append(returnProjects, p)
	}
	sort.Strings(returnProjects)
	for _, p := range returnProjects {
		if !projects[p] {
			add("$.connect.returnUrls."+p, "no project %q", p)
		}
	}

	names, hashes := map[string]bool{}, map[string]bool{}
	for i, k := range c.Manage.APIKeys {
		at := fmt.Sprintf("$.manage.apiKeys[%d]", i)
		if k.Name == "" {
			add(at+".name", "required (it names the key in logs)")
		} else if names[k.Name] {
			add(at+".name", "name %q used twice", k.Name)
		}
		names[k.Name] = true
		if b, err := hex.DecodeString(k.SHA256); err != nil || len(b) != 32 {
			add(at+".sha256", "must be the 64 hex digits of the key's SHA-256 (printf %%s \"$KEY\" | sha256sum)")
		} else if h := strings.ToLower(k.SHA256); hashes[h] {
			add(at+".sha256", "the same key is listed twice")
		} else {
			hashes[h] = true
		}
		if k.Scope != scopeRead && k.Scope != scopeWrite {
			add(at+".scope", `must be "read" or "write"`)
		}
	}

	if c.TimeoutSeconds < 0 || c.MaxRequestBytes < 0 || c.MaxJSONResponseBytes < 0 || c.ClockSkewSeconds < 0 ||
		c.MaxTokenLifetimeSeconds < 0 || c.ShutdownSeconds < 0 {
		add("$", "timeouts and sizes must not be negative")
	}
	if c.Refresh.MarginSeconds < 0 || c.Refresh.TimeoutSeconds < 0 || c.Refresh.CooldownSeconds < 0 {
		add("$.refresh", "durations must not be negative")
	}
	return ps
}

func (l *loaded) validateStore() configfile.Problems {
	s := l.Store
	var ps configfile.Problems
	add := ps.Add
	switch s.Type {
	case "memory":
	case "redis":
		if s.Redis == nil || s.Redis.Addr == "" {
			add("$.store.redis.addr", "required for a redis store")
		} else {
			if _, _, err := net.SplitHostPort(s.Redis.Addr); err != nil {
				add("$.store.redis.addr", "not a host:port address")
			}
			if strings.ContainsAny(s.Redis.Prefix, "{}") {
				add("$.store.redis.prefix", "must not contain '{' or '}'")
			}
			if s.Redis.Password != "" && !l.fromEnv["$.store.redis.password"] {
				add("$.store.redis.password", "a secret: %s", secretRef)
			}
		}
	case "postgres":
		switch {
		case s.Postgres == nil || s.Postgres.URL == "":
			add("$.store.postgres.url", `required for a postgres store: {"env": "DATABASE_URL"}`)
		case !l.fromEnv["$.store.postgres.url"]:
			add("$.store.postgres.url", "may carry a password: %s", secretRef)
		}
		if s.Postgres != nil && s.Postgres.Table != "" && !tableName.MatchString(s.Postgres.Table) {
			add("$.store.postgres.table", "must be a lowercase identifier of at most 48 characters")
		}
	case "":
		add("$.store.type", `required: "memory", "redis" or "postgres"`)
	default:
		add("$.store.type", `must be "memory", "redis" or "postgres"`)
	}
	if s.Type != "redis" && s.Redis != nil {
		add("$.store.redis", `set, but store.type is not "redis"`)
	}
	if s.Type != "postgres" && s.Postgres != nil {
		add("$.store.postgres", `set, but store.type is not "postgres"`)
	}
	if z := s.Sealing; z != nil {
		if len(z.Keys) == 0 {
			add("$.store.sealing.keys", "at least one key is required")
		}
		if _, ok := z.Keys[z.Current]; !ok {
			add("$.store.sealing.current", "must name one of keys")
		}
		ids := make([]string, 0, len(z.Keys))
		for id := range z.Keys {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			at := "$.store.sealing.keys." + id
			switch {
			case id == "" || strings.Contains(id, ":"):
				add(at, "a key id must be non-empty and contain no ':'")
			case !l.fromEnv[at]:
				add(at, "a secret: %s", secretRef)
			default:
				if b, err := base64.StdEncoding.DecodeString(z.Keys[id]); err != nil || len(b) != 32 {
					add(at, "must be the base64 of 32 random bytes (openssl rand -base64 32)")
				}
			}
		}
	}
	return ps
}
