package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

type grantFunc func(context.Context, *tokens.Connection) (*oauth2.Token, error)

func (f grantFunc) Token(ctx context.Context, c *tokens.Connection) (*oauth2.Token, error) {
	return f(ctx, c)
}

// Config.KeepAlive starts a KeepAlive that refreshes a connection before it
// is due; /sdk/me shows its health; Close stops it.
func TestKeepAliveWiringAndHealth(t *testing.T) {
	good := grantFunc(func(context.Context, *tokens.Connection) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "fresh", RefreshToken: "rt2", Expiry: time.Now().Add(time.Hour)}, nil
	})
	bad := grantFunc(func(context.Context, *tokens.Connection) (*oauth2.Token, error) {
		return nil, errors.New("token endpoint down")
	})
	e := onbehalftest.NewEnv(t, onbehalftest.EnvOptions{Configure: func(c *middleware.Config) {
		c.KeepAlive = &tokens.KeepAliveConfig{Interval: 10 * time.Millisecond,
			Grant: func(_ context.Context, k tokens.Key) (tokens.Grant, error) {
				if k.ID == "failing" {
					return bad, nil
				}
				return good, nil
			}}
	}})
	soon := time.Now().Add(2 * time.Minute).Round(0) // due for the KeepAlive (Ahead 5m), not for a request (Margin 1m)
	c := &tokens.Connection{Project: e.Project, User: e.User, Integration: "custom.tasklab", ID: "soon",
		Credential: tokens.Credential{AccessToken: "old", RefreshToken: "rt", Expiry: soon}}
	f := &tokens.Connection{Project: e.Project, User: e.User, Integration: "custom.tasklab", ID: "failing",
		Credential: tokens.Credential{AccessToken: "old", RefreshToken: "rt", Expiry: soon}}
	for _, x := range []*tokens.Connection{c, f} {
		if err := e.Store.Save(context.Background(), x); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := e.Store.Get(context.Background(), c.Key())
		bf, _ := e.Store.Get(context.Background(), f.Key())
		if got.Credential.AccessToken == "fresh" && bf.Failures > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not refreshed in the background: %v; failures %d", got.Credential, bf.Failures)
		}
		time.Sleep(10 * time.Millisecond)
	}

	resp := e.Do(t, "GET", e.Server.URL+"/projects/"+e.Project+"/sdk/me", nil, nil)
	var me struct {
		Integrations map[string]struct {
			AllCredentials []struct {
				ID     string `json:"id"`
				Status string `json:"status"`
				Health struct {
					State       string `json:"state"`
					Failures    int    `json:"failures"`
					LastRefresh string `json:"lastRefresh"`
					LastError   string `json:"lastError"`
				} `json:"health"`
			} `json:"allCredentials"`
		} `json:"integrations"`
	}
	if err := json.Unmarshal(readBody(t, resp), &me); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, cr := range me.Integrations["custom.tasklab"].AllCredentials {
		switch cr.ID {
		case "soon":
			seen++
			if cr.Status != "VALID" || cr.Health.State != "healthy" || cr.Health.LastRefresh == "" || cr.Health.LastError != "" {
				t.Errorf("soon: %+v", cr)
			}
		case "failing":
			seen++
			if cr.Status != "VALID" || cr.Health.State != "refresh_failing" || cr.Health.Failures < 1 || cr.Health.LastError != "refresh_failed" {
				t.Errorf("failing: %+v", cr)
			}
		}
	}
	if seen != 2 {
		t.Fatalf("me lists %d of the 2 connections", seen)
	}
	e.Handler.Close()
	e.Handler.Close() // twice is fine
}
